"""Hook dispatch: cached implementations, error isolation and tracing, for any pluggy hook.

Hooks are dispatched from a cached list of implementations (rebuilt only when a plugin is registered
or unregistered), one implementation at a time, so a raising implementation cannot stop the others.
``pm.hook.x()`` costs ten to twenty times a plain loop per call (``bench/RESULTS.md``); a relay calls
hooks once per lead and message, so it uses `HookDispatcher.fold` and `HookDispatcher.dispatch_many`
instead, which run a loop compiled once per hook (`msgrelay.plugins.loops`).

Nothing here knows a hook's value types: what a fold accepts, what a failure concerned and how an
argument shows in a trace line are the caller's. `msgrelay.plugins.manager.PluginManager` builds on
`HookDispatcher` with msgrelay's hooks, loading and listing.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
import pluggy

from msgrelay.errors import PLUGIN_FAILURES
from msgrelay.plugins.loops import Impl, adapt, compile_broadcast, compile_fold

__all__ = ["TRACE_LOGGER", "HookCall", "HookDispatcher", "PluginError", "describe_error", "type_name"]

T = TypeVar("T")

#: The logger traced hook calls go to, at DEBUG: one name whatever module dispatches.
TRACE_LOGGER = "msgrelay.plugins.trace"
trace_logger = logging.getLogger(TRACE_LOGGER)

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


def type_name(value: object) -> str:
    """The default trace label of a hook argument: its type's name, which shows no value."""
    return type(value).__name__


class HookDispatcher(pluggy.PluginManager):
    """A pluggy manager whose hooks are dispatched fast, each implementation isolated, optionally traced.

    Args:
        project_name: pluggy's project name (the hook markers').
        trace_calls: log every hook call to `TRACE_LOGGER`.
        label: how a hook argument shows in a trace line, between ``<>``: ids, never message texts
            or credentials (default: its type's name).
    """

    def __init__(
        self, project_name: str, *, trace_calls: bool, label: Callable[[Any], str] = type_name
    ) -> None:
        super().__init__(project_name)
        #: Whether every hook call is logged (``MSGRELAY_TRACE_PLUGINS``); ``trace`` is pluggy's own.
        self.trace_calls = trace_calls
        #: Hook errors of callers that passed no list of their own (the most recent ones).
        self.recent_errors: deque[PluginError] = deque(maxlen=_RECENT_ERRORS)
        self._label = label
        self._tracers: list[Callable[[HookCall], None]] = []
        self._impl_cache: dict[str, tuple[Impl, ...]] = {}
        #: Compiled loops by hook: broadcasts (`dispatch_many`) and folds (`fold`).
        self._broadcasts: dict[str, Callable[..., Any]] = {}
        self._folds: dict[str, Callable[..., Any]] = {}
        if self.trace_calls:
            trace_logger.setLevel(logging.DEBUG)

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin (pluggy's rules); the cached implementations are rebuilt on next use."""
        registered = super().register(plugin, name)
        if registered is not None:
            self._forget_impls()
        return registered

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin; the cached implementations are rebuilt on next use."""
        removed = super().unregister(plugin, name)
        self._forget_impls()
        return removed

    def _forget_impls(self) -> None:
        self._impl_cache.clear()
        self._broadcasts.clear()
        self._folds.clear()

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
        except PLUGIN_FAILURES as exc:
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
                self._summarise(call.kwargs),
                outcome,
                call.seconds,
            )
        for tracer in list(self._tracers):
            tracer(call)

    def _summarise(self, kwargs: Mapping[str, Any]) -> str:
        """The arguments of a trace line, each as ``label`` shows it."""
        return ", ".join(f"{name}=<{self._label(value)}>" for name, value in kwargs.items())

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
            except PLUGIN_FAILURES as exc:  # isolation: one plugin cannot stop the others
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
                    except PLUGIN_FAILURES as exc:  # isolation: one plugin cannot stop the others
                        sink.append(self._error(hook, impl.plugin, subject(args), exc))
            return
        runner = self._broadcasts.get(hook)
        if runner is None:
            runner = self._broadcasts[hook] = compile_broadcast(hook, self._spec_args(hook), impls)
        runner(calls, sink, subject, self._error)

    def fold(
        self,
        hook: str,
        items: Iterable[T],
        *args: Any,
        accepts: type[T],
        subject: Callable[[T], str],
        errors: list[PluginError] | None = None,
    ) -> list[T]:
        """Thread each item through every implementation of ``hook``, in order, at about the cost of a
        plain loop: the second implementation receives what the first returned.

        Args:
            hook: a hook whose first argument is the item; the implementations return a new item or None.
            items: the items, in order.
            args: the hook's other arguments, the same for every item.
            accepts: the type of a new item; an implementation returning anything else (but None) is
                recorded as an error and its result ignored.
            subject: names what a failing call concerned (``subject(item)``); evaluated only on failure.
            errors: where errors go (default `recent_errors`).

        Returns:
            The items as the last implementation left them; a raising implementation passes its item
            on unchanged.
        """
        impls = self.impls(hook)
        if not impls:
            return list(items)
        sink = self.recent_errors if errors is None else errors
        folded = functools.partial(_folded, hook, accepts, subject)
        if self.tracing:
            out = []
            for item in items:
                for impl in impls:
                    try:
                        new = self._traced(hook, impl, (item, *args))
                    except PLUGIN_FAILURES as exc:  # isolation: the item passes on unchanged
                        sink.append(self._error(hook, impl.plugin, subject(item), exc))
                        continue
                    if new is not None:
                        item = folded(impl.plugin, item, new, sink)
                out.append(item)
            return out
        runner = self._folds.get(hook)
        if runner is None:
            runner = self._folds[hook] = compile_fold(hook, self._spec_args(hook), impls)
        result: list[T] = runner(items, *args, accepts, subject, sink, self._error, folded)
        return result

    def _spec_args(self, hook: str) -> tuple[str, ...]:
        spec = getattr(self.hook, hook).spec
        return tuple(spec.argnames) if spec else ()

    @staticmethod
    def _error(hook: str, plugin: str, subject: str, exc: BaseException) -> PluginError:
        return PluginError(plugin=plugin, hook=hook, subject=subject, error=describe_error(exc))


def _folded(
    hook: str,
    accepts: type[T],
    subject: Callable[[T], str],
    plugin: str,
    item: T,
    new: object,
    sink: list[PluginError] | deque[PluginError],
) -> T:
    """The item after one implementation returned ``new``: an ``accepts`` (a subclass too), else a mistake."""
    if isinstance(new, accepts):
        return new
    problem = f"returned {type(new).__name__}, not a {accepts.__name__} or None"
    sink.append(PluginError(plugin=plugin, hook=hook, subject=subject(item), error=problem))
    return item
