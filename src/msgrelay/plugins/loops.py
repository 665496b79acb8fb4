"""Per-hook loops compiled from the registered implementations: the fast path of hook dispatch.

Hook dispatch is compiled, once per set of registered plugins, into one function whose loop calls
each implementation directly with the arguments it declared, each in its own ``try``. A generic
loop (an inner loop over callables, adapters for implementations taking a subset of the
arguments) costs up to several times a plain loop; this costs the plain loop plus the ``try``.
Only identifiers from the hook specs and generated names enter the source; the generated names
start with ``_``, which no spec argument may.

Nothing here knows a hook or a value type: the fold's accepted type and its subjects are arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["Impl", "adapt", "compile_broadcast", "compile_fold"]


@attrs.frozen
class Impl:
    """One hook implementation, as the dispatcher calls it."""

    plugin: str
    #: Called with the spec's arguments in the spec's order, whatever subset the impl declared.
    call: Callable[..., Any]
    #: The implementation itself, and the arguments it declared.
    function: Callable[..., Any]
    argnames: tuple[str, ...]


def adapt(
    function: Callable[..., Any], argnames: Sequence[str], spec_args: Sequence[str]
) -> Callable[..., Any]:
    """``function`` callable with the spec's arguments, whatever subset of them it declared."""
    if tuple(argnames) == tuple(spec_args):
        return function
    # A fixed-arity adapter, compiled once per registration: ``*args`` slicing per call would cost
    # several times the call itself. The names are the spec's, checked by pluggy at registration.
    _check_names(spec_args, argnames)
    source = f"def call({', '.join(spec_args)}):\n    return _function({', '.join(argnames)})\n"
    namespace: dict[str, Any] = {"_function": function}
    exec(source, namespace)  # identifiers only, from the hook specs
    adapter: Callable[..., Any] = namespace["call"]
    return adapter


def compile_broadcast(hook: str, spec_args: Sequence[str], impls: Sequence[Impl]) -> Callable[..., Any]:
    """``run(calls, sink, subject, error)``: every implementation on every argument tuple of ``calls``.

    A raising call appends ``error(hook, plugin, subject(args), exc)`` to ``sink``.
    """
    _check_names(spec_args, *(impl.argnames for impl in impls))
    args = ", ".join(spec_args)
    lines = ["def run(_calls, _sink, _subject, _error):", f"    for {args}, in _calls:"]
    for i, impl in enumerate(impls):
        lines += [
            "        try:",
            f"            _f{i}({', '.join(impl.argnames)})",
            "        except (Exception, SystemExit, GeneratorExit) as _exc:",  # errors.PLUGIN_FAILURES
            f"            _sink.append(_error({hook!r}, _impls[{i}].plugin, _subject(({args},)), _exc))",
        ]
    return _compile("\n".join(lines) + "\n", impls)


def compile_fold(hook: str, spec_args: Sequence[str], impls: Sequence[Impl]) -> Callable[..., Any]:
    """``run(items, *rest, accepts, subject, sink, error, folded)``: each item threaded through ``impls``.

    The item is the spec's first argument; ``rest`` are the others, the same for every item. Each
    implementation receives what the previous one returned: a result of exactly type ``accepts``
    replaces the item, None leaves it, anything else (a subclass, a mistake) goes through
    ``folded(plugin, item, result, sink)``, which returns the item to pass on. A raising call appends
    ``error(hook, plugin, subject(item), exc)`` to ``sink`` and the item passes on unchanged.
    """
    _check_names(spec_args, *(impl.argnames for impl in impls))
    item, *rest = spec_args
    params = ", ".join(["_items", *rest, "_accepts", "_subject", "_sink", "_error", "_folded"])
    lines = [f"def run({params}):", "    _out = []", f"    for {item} in _items:"]
    for i, impl in enumerate(impls):
        lines += [
            "        try:",
            f"            _new = _f{i}({', '.join(impl.argnames)})",
            "        except (Exception, SystemExit, GeneratorExit) as _exc:",  # errors.PLUGIN_FAILURES
            f"            _sink.append(_error({hook!r}, _impls[{i}].plugin, _subject({item}), _exc))",
            "        else:",
            "            if _new is not None:",
            # The common case inline; anything else through `_folded`.
            f"                {item} = _new if type(_new) is _accepts else "
            f"_folded(_impls[{i}].plugin, {item}, _new, _sink)",
        ]
    lines += [f"        _out.append({item})", "    return _out"]
    return _compile("\n".join(lines) + "\n", impls)


def _check_names(*groups: Sequence[str]) -> None:
    """Only plain identifiers enter generated source, and none clashes with a generated name."""
    for name in (name for group in groups for name in group):
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"hook argument {name!r} cannot be compiled into a dispatch loop")


def _compile(source: str, impls: Sequence[Impl]) -> Callable[..., Any]:
    namespace: dict[str, Any] = {f"_f{i}": impl.function for i, impl in enumerate(impls)}
    namespace["_impls"] = impls
    exec(source, namespace)  # identifiers only, from the hook specs, and generated names
    runner: Callable[..., Any] = namespace["run"]
    return runner
