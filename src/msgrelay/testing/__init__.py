"""Fixtures for plugin authors (a pytest plugin, loaded through the ``pytest11`` entry point).

Test a plugin against the real pipeline in a few lines::

    def test_my_destination(msgrelay_harness, register_plugin):
        register_plugin(my_plugin)
        report = msgrelay_harness.generate(leads=3, destinations=["my-crm"])
        assert report.delivered == 3

Fixtures:
    msgrelay_home: ``MSGRELAY_HOME`` pointed at a temporary folder (ledger and store land there).
    msgrelay_plugins: a fresh `PluginManager` with the built-in plugins and no entry points.
    register_plugin: ``register_plugin(plugin, name=None)`` registers for this test only.
    hook_recorder: a `HookRecorder` of every hook call made through ``msgrelay_plugins``.
    msgrelay_sandbox: both emulated APIs on 127.0.0.1, on a free port.
    msgrelay_harness: a `RelayHarness`: sandbox, ledger, plugins and relay wired together.

Also here: `RelayHarness`, `HookRecorder` and `make_request` for your own fixtures, and
`msgrelay.testing.cassettes` (the secret scrubbing our cassettes are recorded with).
"""

__all__ = [
    "DEFAULT_MESSAGE_TYPES",
    "HookRecorder",
    "RelayHarness",
    "hook_recorder",
    "make_request",
    "msgrelay_harness",
    "msgrelay_home",
    "msgrelay_plugins",
    "msgrelay_sandbox",
    "register_plugin",
]

# pytest collects the fixtures from this module's namespace (the ``pytest11`` entry point names it).
from msgrelay.testing.fixtures import (
    hook_recorder,
    msgrelay_harness,
    msgrelay_home,
    msgrelay_plugins,
    msgrelay_sandbox,
    register_plugin,
)
from msgrelay.testing.harness import DEFAULT_MESSAGE_TYPES, HookRecorder, RelayHarness, make_request
