"""Hook dispatch: msgrelay's plugin manager against the same calls written out by hand.

Each plugin implements ``on_message_fetched`` and ``transform_lead`` with bodies that do nothing
(``transform_lead`` returns None: "unchanged"), so what is measured is the dispatch alone, the
harshest case for the ratio. The baseline is what a host would write with no plugin system: one loop
over the items calling each plugin's function by name, each call in its own ``try`` (one failing
plugin must not stop the others, which msgrelay guarantees too). A nested loop over a list of
functions, and pluggy's own ``pm.hook.on_message_fetched(...)``, are shown for reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import attrs

from bench import payloads
from bench.report import Table, X
from bench.timing import Sample, compare, fmt_seconds
from msgrelay.destinations.delivery import UPSCALE, GeneratedMessage, RelayContext
from msgrelay.plugins import PluginError, PluginManager
from msgrelay.plugins.hookspecs import hookimpl
from msgrelay.upscale import convert
from msgrelay.upscale.models import Lead

PLUGIN_COUNTS = (1, 3, 10)

Call = tuple[GeneratedMessage, Lead, RelayContext]


class NoOpPlugin:
    """A plugin whose hooks take every argument and do nothing."""

    @hookimpl
    def on_message_fetched(self, message: Any, lead: Lead | None, context: RelayContext) -> None:
        return None

    @hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead | None:
        return None


class SubsetPlugin:
    """A plugin whose hooks take only some of the arguments (pluggy allows any subset)."""

    @hookimpl
    def on_message_fetched(self, message: Any) -> None:
        return None

    @hookimpl
    def transform_lead(self, lead: Lead) -> Lead | None:
        return None


def manager(plugins: Sequence[object]) -> PluginManager:
    """A plugin manager with exactly ``plugins`` (no built-ins, no entry points, no environment)."""
    pm = PluginManager(environ={}, entry_points=False, builtins=())
    pm.load()
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"plugin-{index}")
    return pm


def workload(leads: int) -> tuple[list[Lead], RelayContext, list[Call]]:
    """The leads of a retrieve response, its context, and one argument tuple per generated message."""
    result = convert.decode_retrieve(payloads.retrieve_bytes(leads), 200)
    context = RelayContext(source=UPSCALE, batch_id=payloads.REQUEST_ID, message_types=result.message_types)
    built = list(result.leads)
    calls = [
        (
            GeneratedMessage(
                secure_request_id=payloads.REQUEST_ID,
                external_prospect_id=lead.external_prospect_id,
                message_type=kind,
                text=text,
            ),
            lead,
            context,
        )
        for lead in built
        for kind, text in lead.messages.items()
        if text is not None
    ]
    return built, context, calls


def plain_broadcast(functions: Sequence[Callable[..., Any]], calls: Sequence[Call]) -> None:
    """The floor: every function called for every message."""
    for message, lead, context in calls:
        for function in functions:
            function(message, lead, context)


def plain_fold(
    functions: Sequence[Callable[..., Any]], leads: Sequence[Lead], context: RelayContext
) -> list[Lead]:
    """The floor of the fold: each lead threaded through every function."""
    out = []
    for lead in leads:
        for function in functions:
            new = function(lead, context)
            if new is not None:
                lead = new
        out.append(lead)
    return out


def _by_hand(template: str, count: int) -> tuple[str, str]:
    """The body of the loop a host writes with ``count`` plugins, and the functions' parameter names.

    ``f0(...)``, ``f1(...)``... spelled out call by call (``template`` is one call), each in its own
    ``try``, as a person writing it for a fixed set of plugins would.
    """
    calls = "\n".join(
        f"        try:\n            {template.format(f=f'f{i}')}\n"
        "        except Exception as exc:\n            errors.append(exc)"
        for i in range(count)
    )
    names = ", ".join(f"f{i}" for i in range(count))
    return calls, names


def hand_broadcast(count: int, errors: list[BaseException]) -> Callable[..., Any]:
    """``run(calls, f0, ..., fN)``: every function called with every message, lead and context."""
    calls, names = _by_hand("{f}(message, lead, context)", count)
    source = f"def run(calls, {names}):\n    for message, lead, context in calls:\n{calls}\n"
    namespace: dict[str, Any] = {"errors": errors}
    exec(source, namespace)  # bench code, from the fixed template above
    return namespace["run"]  # type: ignore[no-any-return]


def hand_broadcast_first(count: int, errors: list[BaseException]) -> Callable[..., Any]:
    """The same for impls taking only the message."""
    calls, names = _by_hand("{f}(message)", count)
    source = f"def run(calls, {names}):\n    for message, _, _ in calls:\n{calls}\n"
    namespace: dict[str, Any] = {"errors": errors}
    exec(source, namespace)  # bench code, from the fixed template above
    return namespace["run"]  # type: ignore[no-any-return]


def hand_fold(count: int, errors: list[BaseException]) -> Callable[..., Any]:
    """``run(leads, context, f0, ..., fN)``: each lead threaded through every function by hand."""
    calls, names = _by_hand(
        "new = {f}(lead, context)\n            if new is not None:\n                lead = new", count
    )
    source = (
        f"def run(leads, context, {names}):\n    out = []\n    for lead in leads:\n{calls}\n"
        "        out.append(lead)\n    return out\n"
    )
    namespace: dict[str, Any] = {"errors": errors}
    exec(source, namespace)  # bench code, from the fixed template above
    return namespace["run"]  # type: ignore[no-any-return]


def pluggy_broadcast(hook: Any, calls: Sequence[Call]) -> None:
    """What pluggy's own hook call costs: one ``pm.hook.on_message_fetched(...)`` per message."""
    for message, lead, context in calls:
        hook(message=message, lead=lead, context=context)


class CountingPlugin:
    """Counts its calls; its ``transform_lead`` returns a new lead, to check the fold threads it."""

    def __init__(self) -> None:
        self.messages = 0
        self.leads = 0

    @hookimpl
    def on_message_fetched(self, message: Any) -> None:
        self.messages += 1

    @hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead | None:
        self.leads += 1
        return attrs.evolve(lead, extra={**lead.extra, "seen": lead.extra.get("seen", 0) + 1})


def check_dispatch(leads: Sequence[Lead], context: RelayContext, calls: Sequence[Call]) -> None:
    """Refuse to time a dispatcher that skips a call or drops a fold's result."""
    plugins = [CountingPlugin() for _ in range(3)]
    pm = manager(plugins)
    errors: list[PluginError] = []
    pm.dispatch_many("on_message_fetched", calls, subject=_subject, errors=errors)
    folded = pm.transform_leads(leads, context, errors=errors)
    assert not errors, errors[:3]
    assert all(p.messages == len(calls) and p.leads == len(leads) for p in plugins)
    assert all(lead.extra["seen"] == len(plugins) for lead in folded)


def _subject(args: tuple[Any, ...]) -> str:
    return f"message {args[0].message_type}"


HAND = "the same calls written out by hand (each in a try)"
PLAIN = "nested loop over a list of the functions (reference)"
MSGRELAY = "msgrelay PluginManager"
PLUGGY = "pluggy pm.hook.on_message_fetched(...) per message (reference)"
MSGRELAY_SUBSET = "msgrelay, impls taking a subset of the arguments"
HAND_SUBSET = "by hand, subset impls"


def bench_hooks(leads: int = 10_000) -> tuple[Table, dict[str, dict[int, float]]]:
    """Per-message and per-lead dispatch cost with 1, 3 and 10 plugins."""
    built, context, calls = workload(leads)
    check_dispatch(built, context, calls)
    errors: list[PluginError] = []
    rows: dict[str, dict[int, Sample]] = {}
    fold_rows: dict[str, dict[int, Sample]] = {}
    for count in PLUGIN_COUNTS:
        plugins = [NoOpPlugin() for _ in range(count)]
        subset = [SubsetPlugin() for _ in range(count)]
        pm, pm_subset = manager(plugins), manager(subset)
        broadcast = [p.on_message_fetched for p in plugins]
        folds = [p.transform_lead for p in plugins]
        broadcast_subset = [p.on_message_fetched for p in subset]
        hook = pm.hook.on_message_fetched
        hand_errors: list[BaseException] = []
        samples = compare(
            {
                HAND: partial(hand_broadcast(count, hand_errors), calls, *broadcast),
                PLAIN: partial(plain_broadcast, broadcast, calls),
                MSGRELAY: partial(
                    pm.dispatch_many, "on_message_fetched", calls, subject=_subject, errors=errors
                ),
                PLUGGY: partial(pluggy_broadcast, hook, calls),
                HAND_SUBSET: partial(hand_broadcast_first(count, hand_errors), calls, *broadcast_subset),
                MSGRELAY_SUBSET: partial(
                    pm_subset.dispatch_many, "on_message_fetched", calls, subject=_subject, errors=errors
                ),
            }
        )
        for name, sample in samples.items():
            rows.setdefault(name, {})[count] = sample
        folded = compare(
            {
                HAND: partial(hand_fold(count, hand_errors), built, context, *folds),
                PLAIN: partial(plain_fold, folds, built, context),
                MSGRELAY: partial(pm.transform_leads, built, context, errors=errors),
                MSGRELAY_SUBSET: partial(pm_subset.transform_leads, built, context, errors=errors),
            }
        )
        for name, sample in folded.items():
            fold_rows.setdefault(name, {})[count] = sample
        assert not errors, errors[:3]
        assert not hand_errors, hand_errors[:3]
    header = ["hook", "dispatcher"]
    for count in PLUGIN_COUNTS:
        header += [f"{count} plugin{'s' if count > 1 else ''}", f"{X} plain"]
    header = [h.replace("plain", "by hand") for h in header]
    table = Table("Hook dispatch (cost per message, per lead for the fold)", header, figures_from=2)
    ratios: dict[str, dict[int, float]] = {}

    def add(hook: str, name: str, data: dict[str, dict[int, Sample]], per: int, plain: str) -> None:
        row = [hook, name]
        for count in PLUGIN_COUNTS:
            value = data[name][count].median
            reference = data[plain][count].median
            row += [fmt_seconds(value / per), f"{value / reference:.2f}{X}"]
            ratios.setdefault(f"{hook}: {name}", {})[count] = value / reference
        table.rows.append(row)

    for name in (HAND, MSGRELAY, PLAIN, PLUGGY):
        add("on_message_fetched", name, rows, len(calls), HAND)
    for name in (HAND_SUBSET, MSGRELAY_SUBSET):
        add("on_message_fetched", name, rows, len(calls), HAND_SUBSET)
    for name in (HAND, MSGRELAY, PLAIN, MSGRELAY_SUBSET):
        add("transform_lead fold", name, fold_rows, len(built), HAND)
    table.notes.append(
        f"{len(calls):,} generated messages of {len(built):,} leads, every lead already built. The "
        f"baseline (`{X} by hand`) is one loop over the items calling each plugin's function by name, "
        "each call in its own `try`, as a host with a fixed set of plugins would write it: the same "
        "work msgrelay does (it isolates each call too). msgrelay compiles exactly that loop per hook "
        "from the registered implementations, so a ratio of about 1.0 is the expected, honest figure. "
        "The nested loop over a list of functions and pluggy's own hook call are for reference only. "
        "Before timing, counting plugins check that every implementation ran once per message and that "
        "the fold threaded each result. Subset impls (pluggy lets an impl take any subset of the "
        "arguments) are compared with the same hand-written loop calling them with that subset."
    )
    return table, ratios
