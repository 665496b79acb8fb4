"""The plugin manager: loading with isolation, listing, tracing, and fast hook dispatch.

One `PluginManager` per host; nothing here is global. `load` registers the built-in plugins, then
each entry point of the ``msgrelay`` group, one at a time, so a plugin that fails to import is
recorded with its error and the others still load (``MSGRELAY_STRICT_PLUGINS=1`` makes that fatal).

Hooks are dispatched from a cached list of implementations (rebuilt only when a plugin is registered
or unregistered), one implementation at a time, so a raising implementation cannot stop the others.
``pm.hook.x()`` costs about ten times a plain loop per call (``perf-notes.md``); a relay calls hooks
once per lead and message, so it uses `transform_leads` and `dispatch` instead.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from msgrelay import hookspecs
from msgrelay._version import __version__
from msgrelay.config import (
    MSGRELAY_DISABLE_PLUGINS,
    MSGRELAY_LOAD_PLUGINS,
    MSGRELAY_STRICT_PLUGINS,
    MSGRELAY_TRACE_PLUGINS,
    env_flag,
    env_list,
)
from msgrelay.delivery import RelayContext
from msgrelay.destinations import DestinationRegistry
from msgrelay.errors import ConfigurationError
from msgrelay.upscale.models import Lead

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HookCall",
    "PluginError",
    "PluginLoadError",
    "PluginManager",
]

logger = logging.getLogger("msgrelay.plugins")
trace_logger = logging.getLogger("msgrelay.plugins.trace")

ENTRY_POINT_GROUP = "msgrelay"
#: Modules registered as plugins by every manager, through the same hooks as third-party plugins.
DEFAULT_PLUGINS: tuple[str, ...] = ("msgrelay.store",)
#: Errors kept in memory for callers that pass no list of their own.
_RECENT_ERRORS = 1000
_ERROR_TEXT_MAX = 500


class PluginLoadError(ConfigurationError):
    """A plugin failed to load and strict mode (``MSGRELAY_STRICT_PLUGINS=1``) is on."""


@attrs.frozen(kw_only=True)
class PluginError:
    """A plugin that failed to load, or a hook implementation that raised.

    Attributes:
        plugin: the plugin's name.
        hook: the hook name, or None for a load problem.
        subject: what the failure concerned (``lead crm-1``, ``entry point acme = acme.plugin``).
        error: ``ExceptionType: message``, shortened.
    """

    plugin: str
    hook: str | None
    subject: str
    error: str

    def __str__(self) -> str:
        where = f" in {self.hook}" if self.hook else ""
        return f"plugin {self.plugin!r}{where} ({self.subject}): {self.error}"


@attrs.frozen(kw_only=True)
class HookCall:
    """One traced hook call, as `add_tracer` callbacks receive it."""

    hook: str
    plugin: str
    kwargs: Mapping[str, Any]
    result: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 500 characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _ERROR_TEXT_MAX else text[: _ERROR_TEXT_MAX - 1] + "…"


@attrs.frozen
class _Impl:
    plugin: str
    #: Called with the spec's arguments in the spec's order, whatever subset the impl declared.
    call: Callable[..., Any]
    #: The implementation itself, and the arguments it declared.
    function: Callable[..., Any]
    argnames: tuple[str, ...]


def _adapt(
    function: Callable[..., Any], argnames: Sequence[str], spec_args: Sequence[str]
) -> Callable[..., Any]:
    """``function`` callable with the spec's arguments, whatever subset of them it declared."""
    if tuple(argnames) == tuple(spec_args):
        return function
    # A fixed-arity adapter, compiled once per registration: ``*args`` slicing per call would cost
    # several times the call itself. The names are the spec's, checked by pluggy at registration.
    assert all(name.isidentifier() for name in (*argnames, *spec_args))
    source = f"def call({', '.join(spec_args)}):\n    return function({', '.join(argnames)})\n"
    namespace: dict[str, Any] = {"function": function}
    exec(source, namespace)  # identifiers only, from the hook specs
    adapter: Callable[..., Any] = namespace["call"]
    return adapter


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@attrs.define
class _Record:
    """What the manager knows about one plugin, loaded or not."""

    name: str
    version: str | None = None
    distribution: str | None = None
    builtin: bool = False
    state: str = "loaded"  # loaded | failed | disabled
    errors: list[str] = attrs.field(factory=list)


class PluginManager(pluggy.PluginManager):
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
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.environ = environ
        self.use_entry_points = entry_points
        self.builtins = tuple(builtins)
        self.strict = env_flag(MSGRELAY_STRICT_PLUGINS, environ) if strict is None else strict
        #: Whether every hook call is logged (``MSGRELAY_TRACE_PLUGINS``); ``trace`` is pluggy's own.
        self.trace_calls = env_flag(MSGRELAY_TRACE_PLUGINS, environ) if trace is None else trace
        #: Destinations registered by the plugins, by name.
        self.destinations = DestinationRegistry()
        #: Hook errors of callers that passed no list of their own (the most recent ones).
        self.recent_errors: deque[PluginError] = deque(maxlen=_RECENT_ERRORS)
        self._records: dict[str, _Record] = {}
        self._tracers: list[Callable[[HookCall], None]] = []
        self._impl_cache: dict[str, tuple[_Impl, ...]] = {}
        self._runners: dict[str, Callable[..., Any]] = {}
        self._loaded = False
        if self.trace_calls:
            trace_logger.setLevel(logging.DEBUG)

    # --- loading ---------------------------------------------------------------------------------
    def load(self) -> PluginManager:
        """Register the built-ins and the entry-point plugins, once; later calls do nothing."""
        if self._loaded:
            return self
        self._loaded = True
        for module_name in self.builtins:
            self._load_one(module_name, functools.partial(importlib.import_module, module_name), builtin=True)
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
        self._impl_cache.clear()
        self._runners.clear()
        self._records.setdefault(registered, _Record(registered))
        for caller in self.get_hookcallers(plugin) or []:
            self._check_hook(registered, caller)
        self._collect_destinations(registered, plugin)
        return registered

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin and forget its destinations."""
        name = name or (self.get_name(plugin) if plugin is not None else None)
        removed = super().unregister(plugin, name)
        self._impl_cache.clear()
        self._runners.clear()
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

    # --- dispatch --------------------------------------------------------------------------------
    def impls(self, hook: str) -> tuple[_Impl, ...]:
        """The implementations of ``hook`` in call order, cached until a plugin (un)registers.

        Order: ``tryfirst`` ones, then the others in registration order, then ``trylast`` ones.
        """
        cached = self._impl_cache.get(hook)
        if cached is not None:
            return cached
        caller: pluggy.HookCaller = getattr(self.hook, hook)
        spec_args = caller.spec.argnames if caller.spec else ()
        plain = [i for i in caller.get_hookimpls() if not (i.wrapper or i.hookwrapper)]
        # pluggy keeps [trylast (newest first), others (oldest first), tryfirst (oldest first)].
        ordered = (
            [i for i in plain if i.tryfirst]
            + [i for i in plain if not (i.tryfirst or i.trylast)]
            + [i for i in reversed(plain) if i.trylast]
        )
        impls = tuple(
            _Impl(i.plugin_name, _adapt(i.function, i.argnames, spec_args), i.function, tuple(i.argnames))
            for i in ordered
        )
        self._impl_cache[hook] = impls
        return impls

    @property
    def tracing(self) -> bool:
        """Whether hook calls are logged or handed to tracers (the slower path)."""
        return self.trace_calls or bool(self._tracers)

    def add_tracer(self, tracer: Callable[[HookCall], None]) -> Callable[[], None]:
        """Call ``tracer`` after every hook call; returns a function that removes it."""
        self._tracers.append(tracer)
        return lambda: self._tracers.remove(tracer)

    def _traced(self, hook: str, impl: _Impl, args: tuple[Any, ...]) -> Any:
        spec = getattr(self.hook, hook).spec
        kwargs = dict(zip(spec.argnames if spec else (), args, strict=False))
        start = time.perf_counter()
        try:
            result = impl.call(*args)
        except Exception as exc:
            self._emit(
                HookCall(
                    hook=hook,
                    plugin=impl.plugin,
                    kwargs=kwargs,
                    error=exc,
                    seconds=time.perf_counter() - start,
                )
            )
            raise
        self._emit(
            HookCall(
                hook=hook,
                plugin=impl.plugin,
                kwargs=kwargs,
                result=result,
                seconds=time.perf_counter() - start,
            )
        )
        return result

    def _emit(self, call: HookCall) -> None:
        if self.trace_calls:
            outcome = f"raised {describe_error(call.error)}" if call.error else "ok"
            trace_logger.debug(
                "%s[%s](%s) %s in %.6fs",
                call.hook,
                call.plugin,
                _summarise(call.kwargs),
                outcome,
                call.seconds,
            )
        for tracer in list(self._tracers):
            tracer(call)

    def dispatch(
        self, hook: str, *args: Any, subject: str = "", errors: list[PluginError] | None = None
    ) -> list[Any]:
        """Call every implementation of a broadcast hook with the spec's arguments, in order.

        Returns the results of the implementations that did not raise. A raising implementation
        is recorded (in ``errors``, else `recent_errors`) with the plugin's name and ``subject``.
        """
        sink = self.recent_errors if errors is None else errors
        results = []
        traced = self.tracing
        for impl in self.impls(hook):
            try:
                results.append(self._traced(hook, impl, args) if traced else impl.call(*args))
            except Exception as exc:  # isolation: one plugin cannot stop the others
                sink.append(
                    PluginError(plugin=impl.plugin, hook=hook, subject=subject, error=describe_error(exc))
                )
        return results

    def dispatch_many(
        self,
        hook: str,
        calls: Iterable[tuple[Any, ...]],
        *,
        subject: Callable[[tuple[Any, ...]], str],
        errors: list[PluginError] | None = None,
    ) -> None:
        """`dispatch` for many argument tuples (one per message), at about the cost of a plain loop.

        ``subject(args)`` names what a failing call concerned; it is evaluated only on failure.
        """
        impls = self.impls(hook)
        if not impls:
            return
        sink = self.recent_errors if errors is None else errors
        if self.tracing:
            for args in calls:
                for impl in impls:
                    try:
                        self._traced(hook, impl, args)
                    except Exception as exc:  # isolation: one plugin cannot stop the others
                        sink.append(self._error(hook, impl.plugin, subject(args), exc))
            return
        runner = self._runners.get(hook)
        if runner is None:
            runner = self._runners[hook] = _compile_broadcast(
                hook, getattr(self.hook, hook).spec.argnames, impls
            )
        runner(calls, sink, subject, self._error)

    def transform_leads(
        self, leads: Iterable[Lead], context: RelayContext, *, errors: list[PluginError] | None = None
    ) -> list[Lead]:
        """Thread each lead through every `transform_lead` implementation, in order (a fold)."""
        impls = self.impls("transform_lead")
        if not impls:
            return list(leads)
        sink = self.recent_errors if errors is None else errors
        if self.tracing:
            out = []
            for lead in leads:
                for impl in impls:
                    try:
                        new = self._traced("transform_lead", impl, (lead, context))
                    except Exception as exc:  # isolation: the lead passes on unchanged
                        sink.append(self._error("transform_lead", impl.plugin, _lead_subject(lead), exc))
                        continue
                    lead = _folded(impl.plugin, lead, new, sink)
                out.append(lead)
            return out
        runner = self._runners.get("transform_lead")
        if runner is None:
            runner = self._runners["transform_lead"] = _compile_fold(impls)
        result: list[Lead] = runner(leads, context, sink, self._error, _folded)
        return result

    @staticmethod
    def _error(hook: str, plugin: str, subject: str, exc: BaseException) -> PluginError:
        return PluginError(plugin=plugin, hook=hook, subject=subject, error=describe_error(exc))

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
        """What ``msgrelay plugins`` prints: name, version, hooks, destinations, errors.

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
                "errors": list(record.errors),
            }
            if include_all:
                row["state"] = record.state
                row["builtin"] = record.builtin
                row["distribution"] = record.distribution
            rows.append(row)
        return rows


def _lead_subject(lead: Lead) -> str:
    return f"lead {lead.external_prospect_id}"


def _folded(plugin: str, lead: Lead, new: Any, sink: list[PluginError] | deque[PluginError]) -> Lead:
    """The lead after one `transform_lead` returned ``new`` (None, a Lead, or a mistake)."""
    if new is None:
        return lead
    if isinstance(new, Lead):
        return new
    problem = f"returned {type(new).__name__}, not a Lead or None"
    sink.append(PluginError(plugin=plugin, hook="transform_lead", subject=_lead_subject(lead), error=problem))
    return lead


# Hook dispatch is compiled, once per set of registered plugins, into one function whose loop calls
# each implementation directly with the arguments it declared, each in its own ``try``. A generic
# loop (an inner loop over callables, adapters for implementations taking a subset of the
# arguments) costs up to several times a plain loop; this costs the plain loop plus the ``try``.
# Only identifiers from the hook specs and generated names enter the source.
def _compile(source: str, impls: Sequence[_Impl], **names: Any) -> Callable[..., Any]:
    namespace: dict[str, Any] = {f"f{i}": impl.function for i, impl in enumerate(impls)}
    namespace.update(names, impls=impls)
    exec(source, namespace)
    runner: Callable[..., Any] = namespace["run"]
    return runner


def _compile_broadcast(hook: str, spec_args: Sequence[str], impls: Sequence[_Impl]) -> Callable[..., Any]:
    args = ", ".join(spec_args)
    lines = ["def run(calls, sink, subject, error):", f"    for {args}, in calls:"]
    for i, impl in enumerate(impls):
        lines += [
            "        try:",
            f"            f{i}({', '.join(impl.argnames)})",
            "        except Exception as exc:",
            f"            sink.append(error({hook!r}, impls[{i}].plugin, subject(({args},)), exc))",
        ]
    return _compile("\n".join(lines) + "\n", impls)


def _compile_fold(impls: Sequence[_Impl]) -> Callable[..., Any]:
    lines = ["def run(leads, context, sink, error, folded):", "    out = []", "    for lead in leads:"]
    for i, impl in enumerate(impls):
        lines += [
            "        try:",
            f"            new = f{i}({', '.join(impl.argnames)})",
            "        except Exception as exc:",
            f"            sink.append(error('transform_lead', impls[{i}].plugin, subject(lead), exc))",
            "        else:",
            "            if new is not None:",
            # The common case inline; anything else (a subclass, a mistake) through `folded`.
            "                lead = new if type(new) is Lead else "
            f"folded(impls[{i}].plugin, lead, new, sink)",
        ]
    lines += ["        out.append(lead)", "    return out"]
    return _compile("\n".join(lines) + "\n", impls, Lead=Lead, subject=_lead_subject)


def _summarise(kwargs: Mapping[str, Any]) -> str:
    """Argument summary for a trace line: ids, never message texts or credentials."""
    parts = []
    for name, value in kwargs.items():
        if isinstance(value, Lead):
            parts.append(f"{name}=<Lead {value.external_prospect_id}>")
        elif isinstance(value, RelayContext):
            parts.append(f"{name}=<{value.source} {value.batch_id}>")
        elif hasattr(value, "message_type"):
            parts.append(f"{name}=<{type(value).__name__} {getattr(value, 'message_type', '')}>")
        else:
            parts.append(f"{name}=<{type(value).__name__}>")
    return ", ".join(parts)
