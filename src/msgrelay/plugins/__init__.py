"""The plugin system: the hook specs, the manager (loading, allow and deny lists, listing) and the
generic dispatcher with its compiled loops.

Plugin authors need only ``from msgrelay import hookimpl``; hosts make a `PluginManager`.
"""

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HookCall",
    "PluginError",
    "PluginLoadError",
    "PluginManager",
    "describe_error",
    "hookimpl",
    "hookspec",
]

from msgrelay.plugins.dispatch import HookCall, PluginError, describe_error
from msgrelay.plugins.hookspecs import hookimpl, hookspec
from msgrelay.plugins.manager import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginLoadError, PluginManager
