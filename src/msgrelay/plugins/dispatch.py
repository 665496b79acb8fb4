"""Hook dispatch: cached implementations, error isolation and tracing.

Hooks are dispatched from a cached list of implementations (rebuilt only when a plugin is registered
or unregistered), one implementation at a time, so a raising implementation cannot stop the others.
``pm.hook.x()`` costs about ten times a plain loop per call (``perf-notes.md``); a relay calls hooks
once per lead and message, so it uses `HookDispatcher.transform_leads` and
`HookDispatcher.dispatch_many` instead, which run a loop compiled once per hook (`msgrelay.plugins.loops`).

`HookDispatcher` is the base of `msgrelay.plugins.PluginManager`, which adds loading and listing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import pluggy

from msgrelay.destinations.delivery import RelayContext
from msgrelay.plugins.loops import Impl, adapt, compile_broadcast, compile_fold
from msgrelay.upscale.models import Lead

__all__ = ["HookCall", "HookDispatcher", "PluginError", "describe_error"]

# Named as when dispatch lived in `msgrelay.plugins`, so logging configurations that name it still apply.
trace_logger = logging.getLogger("msgrelay.plugins.trace")

#: Errors kept in memory for callers that pass no list of their own.
_RECENT_ERRORS = 1000
_ERROR_TEXT_MAX = 500


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


class HookDispatcher(pluggy.PluginManager):
    """A pluggy manager whose hooks are dispatched fast, each implementation isolated, optionally traced.

    Args:
        project_name: pluggy's project name (the hook markers').
        trace_calls: log every hook call to ``msgrelay.plugins.trace``.
    """

    def __init__(self, project_name: str, *, trace_calls: bool) -> None:
        super().__init__(project_name)
        #: Whether every hook call is logged (``MSGRELAY_TRACE_PLUGINS``); ``trace`` is pluggy's own.
        self.trace_calls = trace_calls
        #: Hook errors of callers that passed no list of their own (the most recent ones).
        self.recent_errors: deque[PluginError] = deque(maxlen=_RECENT_ERRORS)
        self._tracers: list[Callable[[HookCall], None]] = []
        self._impl_cache: dict[str, tuple[Impl, ...]] = {}
        self._runners: dict[str, Callable[..., Any]] = {}
        if self.trace_calls:
            trace_logger.setLevel(logging.DEBUG)

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin (pluggy's rules); the cached implementations are rebuilt on next use."""
        registered = super().register(plugin, name)
        if registered is not None:
            self._impl_cache.clear()
            self._runners.clear()
        return registered

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin; the cached implementations are rebuilt on next use."""
        removed = super().unregister(plugin, name)
        self._impl_cache.clear()
        self._runners.clear()
        return removed

    def impls(self, hook: str) -> tuple[Impl, ...]:
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
            Impl(i.plugin_name, adapt(i.function, i.argnames, spec_args), i.function, tuple(i.argnames))
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

    def _traced(self, hook: str, impl: Impl, args: tuple[Any, ...]) -> Any:
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
            runner = self._runners[hook] = compile_broadcast(
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
            runner = self._runners["transform_lead"] = compile_fold(impls, subject=_lead_subject)
        result: list[Lead] = runner(leads, context, sink, self._error, _folded)
        return result

    @staticmethod
    def _error(hook: str, plugin: str, subject: str, exc: BaseException) -> PluginError:
        return PluginError(plugin=plugin, hook=hook, subject=subject, error=describe_error(exc))


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
