"""Per-hook loops compiled from the registered implementations: the fast path of hook dispatch.

Hook dispatch is compiled, once per set of registered plugins, into one function whose loop calls
each implementation directly with the arguments it declared, each in its own ``try``. A generic
loop (an inner loop over callables, adapters for implementations taking a subset of the
arguments) costs up to several times a plain loop; this costs the plain loop plus the ``try``.
Only identifiers from the hook specs and generated names enter the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from msgrelay.upscale.models import Lead

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
    assert all(name.isidentifier() for name in (*argnames, *spec_args))
    source = f"def call({', '.join(spec_args)}):\n    return function({', '.join(argnames)})\n"
    namespace: dict[str, Any] = {"function": function}
    exec(source, namespace)  # identifiers only, from the hook specs
    adapter: Callable[..., Any] = namespace["call"]
    return adapter


def compile_broadcast(hook: str, spec_args: Sequence[str], impls: Sequence[Impl]) -> Callable[..., Any]:
    """``run(calls, sink, subject, error)``: every implementation on every argument tuple of ``calls``.

    A raising call appends ``error(hook, plugin, subject(args), exc)`` to ``sink``.
    """
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


def compile_fold(impls: Sequence[Impl], *, subject: Callable[[Lead], str]) -> Callable[..., Any]:
    """``run(leads, context, sink, error, folded)``: each lead threaded through every `transform_lead`.

    A raising call appends ``error("transform_lead", plugin, subject(lead), exc)`` to ``sink`` and the
    lead passes on unchanged; a result other than None or a `Lead` goes through ``folded``.
    """
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
    return _compile("\n".join(lines) + "\n", impls, Lead=Lead, subject=subject)


def _compile(source: str, impls: Sequence[Impl], **names: Any) -> Callable[..., Any]:
    namespace: dict[str, Any] = {f"f{i}": impl.function for i, impl in enumerate(impls)}
    namespace.update(names, impls=impls)
    exec(source, namespace)
    runner: Callable[..., Any] = namespace["run"]
    return runner
