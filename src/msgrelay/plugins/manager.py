"""The plugin manager: loading with isolation, environment allow and deny lists, listing.

One `PluginManager` per host; nothing here is global. `load` registers the built-in plugins, then
each entry point of the ``msgrelay`` group, one at a time, so a plugin that fails to import is
recorded with its error and the others still load (``MSGRELAY_STRICT_PLUGINS=1`` makes that fatal).

Hook dispatch (cached implementations, compiled loops, error isolation, tracing) is inherited from
the generic `msgrelay.plugins.dispatch.HookDispatcher`; this module is the domain side: it knows that
`transform_lead` folds leads, and how a lead, a batch or a message shows in a trace line.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from msgrelay._version import __version__
from msgrelay.config import (
    MSGRELAY_DISABLE_PLUGINS,
    MSGRELAY_LOAD_PLUGINS,
    MSGRELAY_STRICT_PLUGINS,
    MSGRELAY_TRACE_PLUGINS,
    env_flag,
    env_list,
)
from msgrelay.destinations.delivery import RelayContext
from msgrelay.destinations.registry import DestinationRegistry
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import hookspecs
from msgrelay.plugins.dispatch import HookDispatcher, PluginError, describe_error
from msgrelay.upscale.models import Lead

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "PluginLoadError", "PluginManager"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "msgrelay"
#: Plugins registered by every manager, through the same hooks as third-party plugins, by name.
DEFAULT_PLUGINS: tuple[str, ...] = ("msgrelay.store",)
#: The module behind each built-in plugin's name (a name not listed is its own module).
BUILTIN_MODULES: Mapping[str, str] = {"msgrelay.store": "msgrelay.destinations.store"}


class PluginLoadError(ConfigurationError):
    """A plugin failed to load and strict mode (``MSGRELAY_STRICT_PLUGINS=1``) is on."""


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _lead_subject(lead: Lead) -> str:
    return f"lead {lead.external_prospect_id}"


def _label(value: object) -> str:
    """How a hook argument shows in a trace line: ids, never message texts or credentials."""
    if isinstance(value, Lead):
        return f"Lead {value.external_prospect_id}"
    if isinstance(value, RelayContext):
        return f"{value.source} {value.batch_id}"
    if hasattr(value, "message_type"):  # an Upscale `GeneratedMessage`: its type, not its text
        return f"{type(value).__name__} {getattr(value, 'message_type', '')}"
    return type(value).__name__


@attrs.define
class _Record:
    """What the manager knows about one plugin, loaded or not."""

    name: str
    version: str | None = None
    distribution: str | None = None
    builtin: bool = False
    state: str = "loaded"  # loaded | failed | disabled
    errors: list[str] = attrs.field(factory=list)


class PluginManager(HookDispatcher):
    """msgrelay's plugin manager.

    Args:
        environ: where to read ``MSGRELAY_*_PLUGINS`` from (default ``os.environ``); pass ``{}`` to
            ignore the environment.
        entry_points: load third-party plugins from the ``msgrelay`` entry-point group.
        builtins: modules registered first, as plugins (default `DEFAULT_PLUGINS`).
        strict: make a plugin that fails to load fatal (default ``MSGRELAY_STRICT_PLUGINS``).
        trace: log every hook call (default ``MSGRELAY_TRACE_PLUGINS``).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        entry_points: bool = True,
        builtins: Sequence[str] = DEFAULT_PLUGINS,
        strict: bool | None = None,
        trace: bool | None = None,
    ) -> None:
        strict = env_flag(MSGRELAY_STRICT_PLUGINS, environ) if strict is None else strict
        trace = env_flag(MSGRELAY_TRACE_PLUGINS, environ) if trace is None else trace
        super().__init__(hookspecs.PROJECT, trace_calls=trace, label=_label)
        self.add_hookspecs(hookspecs)
        self.environ = environ
        self.use_entry_points = entry_points
        self.builtins = tuple(builtins)
        self.strict = strict
        #: Destinations registered by the plugins, by name.
        self.destinations = DestinationRegistry()
        self._records: dict[str, _Record] = {}
        self._loaded = False

    # --- dispatch --------------------------------------------------------------------------------
    def transform_leads(
        self, leads: Iterable[Lead], context: RelayContext, *, errors: list[PluginError] | None = None
    ) -> list[Lead]:
        """Thread each lead through every `transform_lead` implementation, in order (a fold).

        A raising implementation, or one returning neither a `Lead` nor None, is recorded (in
        ``errors``, else `recent_errors`) against ``lead <external_prospect_id>``, and the lead passes
        on as that implementation received it.
        """
        return self.fold("transform_lead", leads, context, accepts=Lead, subject=_lead_subject, errors=errors)

    # --- loading ---------------------------------------------------------------------------------
    def load(self) -> PluginManager:
        """Register the built-ins and the entry-point plugins, once; later calls do nothing."""
        if self._loaded:
            return self
        self._loaded = True
        for name in self.builtins:
            module = BUILTIN_MODULES.get(name, name)
            self._load_one(name, functools.partial(importlib.import_module, module), builtin=True)
        if self.use_entry_points:
            for ep in self._selected_entry_points():
                dist = ep.dist
                self._load_one(
                    ep.name,
                    ep.load,
                    version=dist.version if dist else None,
                    distribution=dist.name if dist else None,
                    subject=f"entry point {ep.name} = {ep.value}",
                )
        return self

    def _selected_entry_points(self) -> list[metadata.EntryPoint]:
        wanted = env_list(MSGRELAY_LOAD_PLUGINS, self.environ)
        disabled = {_canonical(n) for n in env_list(MSGRELAY_DISABLE_PLUGINS, self.environ) or []}
        found: dict[str, metadata.EntryPoint] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            # The same distribution on sys.path twice yields the same entry point twice.
            found.setdefault(ep.name, ep)

        def names(ep: metadata.EntryPoint) -> set[str]:
            return {_canonical(ep.name), *([_canonical(ep.dist.name)] if ep.dist else [])}

        if wanted is None:
            # Sorted, so the order of `transform_lead` does not depend on sys.path.
            selected = sorted(found.values(), key=lambda ep: ep.name)
        else:
            selected = []
            for item in wanted:
                selected += [
                    ep for ep in found.values() if _canonical(item) in names(ep) and ep not in selected
                ]
        chosen = []
        for ep in selected:
            if names(ep) & disabled:
                dist = ep.dist
                self._records[ep.name] = _Record(
                    ep.name, dist.version if dist else None, dist.name if dist else None, state="disabled"
                )
            else:
                chosen.append(ep)
        return chosen

    def _load_one(
        self,
        name: str,
        load: Callable[[], Any],
        *,
        builtin: bool = False,
        version: str | None = None,
        distribution: str | None = None,
        subject: str = "",
    ) -> None:
        disabled = {_canonical(n) for n in env_list(MSGRELAY_DISABLE_PLUGINS, self.environ) or []}
        record = _Record(name, __version__ if builtin else version, distribution, builtin=builtin)
        self._records[name] = record
        if builtin and _canonical(name) in disabled:
            record.state = "disabled"
            return
        try:
            plugin = load()
            self.register(plugin, name=name)
        except Exception as exc:  # isolation is the point: record and carry on
            record.state = "failed"
            self._load_problem(name, subject or f"module {name}", describe_error(exc), exc)

    def _load_problem(self, name: str, subject: str, error: str, exc: BaseException | None = None) -> None:
        record = self._records.setdefault(name, _Record(name))
        record.errors.append(error)
        logger.warning("plugin %r (%s): %s", name, subject, error)
        if self.strict:
            raise PluginLoadError(f"plugin {name!r} failed to load ({subject}): {error}") from exc

    # --- registration ----------------------------------------------------------------------------
    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin (pluggy's rules), then check its hooks and collect its destinations."""
        registered = super().register(plugin, name)
        if registered is None:
            return None
        self._records.setdefault(registered, _Record(registered))
        for caller in self.get_hookcallers(plugin) or []:
            self._check_hook(registered, caller)
        self._collect_destinations(registered, plugin)
        return registered

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin and forget its destinations."""
        name = name or (self.get_name(plugin) if plugin is not None else None)
        removed = super().unregister(plugin, name)
        if name is not None:
            self.destinations.remove_plugin(name)
            record = self._records.get(name)
            if record is not None and not record.builtin:
                del self._records[name]
        return removed

    def _check_hook(self, plugin: str, caller: pluggy.HookCaller) -> None:
        if caller.has_spec():
            impls = [i for i in caller.get_hookimpls() if i.plugin_name == plugin]
            if any(i.wrapper or i.hookwrapper for i in impls):
                self._load_problem(plugin, f"hook {caller.name}", "hook wrappers are not supported; ignored")
            return
        impls = [i for i in caller.get_hookimpls() if i.plugin_name == plugin]
        if all(i.optionalhook for i in impls):
            return
        known = [n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "msgrelay_spec", None)]
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known hooks: {', '.join(sorted(known))}"
        self._load_problem(plugin, f"hook {caller.name}", f"unknown hook {caller.name!r}{hint}")

    def _collect_destinations(self, plugin_name: str, plugin: Any) -> None:
        # Plain registrations first: a plugin whose default destination reads its own variables (Collect
        # reads COLLECT_API_KEY) registers it plainly, and its type then adds only config instances.
        impls = [i for i in self.hook.register_destinations.get_hookimpls() if i.plugin is plugin]
        for impl in impls:
            register = self.destinations.registrar(
                plugin_name,
                lambda problem: self._load_problem(plugin_name, "register_destinations", problem),
            )
            try:
                impl.function(register)
            except Exception as exc:  # isolation: record and carry on
                self._load_problem(plugin_name, "register_destinations", describe_error(exc), exc)
        for impl in [i for i in self.hook.register_destination_types.get_hookimpls() if i.plugin is plugin]:
            register_type = self.destinations.type_registrar(
                plugin_name,
                lambda problem: self._load_problem(plugin_name, "register_destination_types", problem),
            )
            try:
                impl.function(register_type)
            except Exception as exc:  # isolation: record and carry on
                self._load_problem(plugin_name, "register_destination_types", describe_error(exc), exc)

    # --- listing ---------------------------------------------------------------------------------
    @property
    def load_errors(self) -> list[PluginError]:
        """Every load-time problem, by plugin."""
        return [
            PluginError(plugin=r.name, hook=None, subject=r.state, error=e)
            for r in self._records.values()
            for e in r.errors
        ]

    def describe(self, *, include_all: bool = False) -> list[dict[str, Any]]:
        """What ``msgrelay plugins`` prints: name, version, hooks, destinations, destination types, errors.

        Built-in and disabled plugins are listed only with ``include_all``; failed ones always.
        """
        rows = []
        for record in self._records.values():
            if not include_all and (record.builtin or record.state == "disabled"):
                continue
            plugin = self.get_plugin(record.name)
            hooks = sorted({c.name for c in self.get_hookcallers(plugin) or []}) if plugin is not None else []
            row: dict[str, Any] = {
                "name": record.name,
                "version": record.version,
                "hooks": hooks,
                "destinations": self.destinations.of_plugin(record.name),
                "types": self.destinations.types_of_plugin(record.name),
                "errors": list(record.errors),
            }
            if include_all:
                row["state"] = record.state
                row["builtin"] = record.builtin
                row["distribution"] = record.distribution
            rows.append(row)
        return rows
