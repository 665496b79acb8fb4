"""The plugin manager: loading with isolation, environment controls, listing, dispatch order, errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay.destinations.delivery import RelayContext
from msgrelay.plugins import PluginError, PluginLoadError, PluginManager, hookspecs
from msgrelay.upscale.models import Lead
from tests.helpers import make_distribution

CONTEXT = RelayContext(source="upscale", batch_id="batch-1")

GOOD = """
from msgrelay.plugins import hookspecs

@hookspecs.hookimpl
def register_destinations(register):
    register("{name}-dest", lambda delivery: None)

@hookspecs.hookimpl
def on_message_fetched(message, lead, context):
    pass
"""
BROKEN = "raise ImportError('the vendor SDK is not installed')\n"


@pytest.fixture
def installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """Two installed plugin distributions: ``good`` loads, ``broken`` raises on import; returns a suffix."""
    suffix = request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    good, broken = f"good_{suffix}", f"broken_{suffix}"
    make_distribution(
        tmp_path / "site",
        f"acme-{suffix}",
        {good: GOOD.format(name="good"), broken: BROKEN},
        {good: good, broken: broken},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield suffix
    for module in (good, broken):
        sys.modules.pop(module, None)


def test_builtins_are_registered_through_the_same_hooks() -> None:
    """The built-in store is a plugin like any other: it registers the ``store`` destination."""
    pm = PluginManager(environ={}, entry_points=False).load()
    assert pm.get_plugin("msgrelay.store") is not None
    assert pm.destinations.of_plugin("msgrelay.store") == ["store"]
    assert pm.describe() == []
    assert pm.describe(include_all=True)[0]["name"] == "msgrelay.store"


def test_managers_share_no_state() -> None:
    """A plugin registered on one manager is invisible to another (no hidden global state)."""
    first = PluginManager(environ={}, entry_points=False).load()
    second = PluginManager(environ={}, entry_points=False).load()
    first.register(Transform("x"), name="only-here")
    assert first.get_plugin("only-here") is not None
    assert second.get_plugin("only-here") is None


def test_a_plugin_that_fails_to_import_is_recorded_and_the_others_load(installed: str) -> None:
    """The broken entry point is listed with its error; the good one is loaded with its destination."""
    pm = PluginManager(environ={}).load()
    rows = {row["name"]: row for row in pm.describe()}
    good, broken = rows[f"good_{installed}"], rows[f"broken_{installed}"]
    assert good["errors"] == []
    assert good["version"] == "1.0"
    assert good["hooks"] == ["on_message_fetched", "register_destinations"]
    assert good["destinations"] == ["good-dest"]
    assert broken["errors"] == ["ImportError: the vendor SDK is not installed"]
    assert "good-dest" in pm.destinations
    assert [e.plugin for e in pm.load_errors] == [f"broken_{installed}"]


def test_strict_mode_makes_a_failing_plugin_fatal(installed: str) -> None:
    """MSGRELAY_STRICT_PLUGINS=1 turns the import error into a `PluginLoadError` naming the plugin."""
    with pytest.raises(PluginLoadError, match=f"broken_{installed}.*vendor SDK"):
        PluginManager(environ={"MSGRELAY_STRICT_PLUGINS": "1"}).load()


def test_load_list_chooses_plugins_and_an_empty_list_loads_none(installed: str) -> None:
    """MSGRELAY_LOAD_PLUGINS names the plugins to load; set but empty, it loads none."""
    only_good = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": f"good_{installed}"}).load()
    assert [r["name"] for r in only_good.describe()] == [f"good_{installed}"]
    by_distribution = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": f"acme-{installed}"}).load()
    assert {r["name"] for r in by_distribution.describe()} == {f"good_{installed}", f"broken_{installed}"}
    none = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": ""}).load()
    assert none.describe() == []
    assert none.get_plugin("msgrelay.store") is not None


def test_an_unknown_name_in_the_load_list_is_a_warning_with_a_suggestion(
    installed: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A typo in MSGRELAY_LOAD_PLUGINS warns (naming the closest installed plugin); the rest load."""
    typo = f"god_{installed}"
    with caplog.at_level(logging.WARNING, logger="msgrelay.plugins.manager"):
        pm = PluginManager(
            environ={"MSGRELAY_LOAD_PLUGINS": f"{typo},good_{installed},msgrelay.store"}
        ).load()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        f"no installed plugin is called {typo!r}; did you mean 'good-{installed.replace('_', '-')}'?"
        in warning
    )
    rows = {row["name"]: row for row in pm.describe(include_all=True)}
    assert rows[typo]["state"] == "missing"
    assert rows[f"good_{installed}"]["errors"] == []
    assert "good-dest" in pm.destinations


def test_an_unknown_name_in_the_load_list_is_fatal_in_strict_mode(installed: str) -> None:
    """Under MSGRELAY_STRICT_PLUGINS the same typo is a `PluginLoadError` naming the variable."""
    environ = {"MSGRELAY_LOAD_PLUGINS": "nosuchplugin", "MSGRELAY_STRICT_PLUGINS": "1"}
    with pytest.raises(
        PluginLoadError, match=r"MSGRELAY_LOAD_PLUGINS.*no installed plugin is called 'nosuchplugin'"
    ):
        PluginManager(environ=environ).load()


def test_disable_list_skips_plugins_and_shows_them_with_all(installed: str) -> None:
    """MSGRELAY_DISABLE_PLUGINS skips a plugin (even a built-in); ``--all`` lists it as disabled."""
    pm = PluginManager(environ={"MSGRELAY_DISABLE_PLUGINS": f"broken_{installed},msgrelay.store"}).load()
    assert f"broken_{installed}" not in {r["name"] for r in pm.describe()}
    states = {r["name"]: r["state"] for r in pm.describe(include_all=True)}
    assert states[f"broken_{installed}"] == "disabled"
    assert states["msgrelay.store"] == "disabled"
    assert "store" not in pm.destinations


def test_load_is_lazy_and_happens_once(installed: str) -> None:
    """Nothing is imported until `load`; a second `load` does nothing."""
    pm = PluginManager(environ={})
    assert pm.get_plugin(f"good_{installed}") is None
    pm.load()
    pm.load()
    assert len([r for r in pm.describe() if r["name"] == f"good_{installed}"]) == 1


class Misspelled:
    @hookspecs.hookimpl
    def on_mesage_fetched(self, message: Any) -> None:
        """A typo of on_message_fetched."""


def test_an_unknown_hook_name_is_reported_with_a_suggestion() -> None:
    """A misspelt hook is not silently ignored: the plugin's errors name it and the likely hook."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Misspelled(), name="typo")
    [row] = pm.describe()
    assert row["errors"] == ["unknown hook 'on_mesage_fetched'; did you mean 'on_message_fetched'?"]


def test_an_unknown_hook_is_fatal_in_strict_mode() -> None:
    """Strict mode (for CI) refuses a plugin with an unknown hook."""
    pm = PluginManager(environ={}, entry_points=False, strict=True).load()
    with pytest.raises(PluginLoadError, match="on_mesage_fetched"):
        pm.register(Misspelled(), name="typo")


@attrs.define
class Transform:
    """A `transform_lead` plugin that appends its tag to every message text."""

    tag: str
    tryfirst: bool = False

    @hookspecs.hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead | None:
        messages = {k: (v + self.tag if v is not None else None) for k, v in lead.messages.items()}
        return attrs.evolve(lead, messages=messages)


class Unchanged:
    @hookspecs.hookimpl
    def transform_lead(self, lead: Lead) -> None:
        """Takes a subset of the arguments and returns None: the lead passes on as it is."""


class Raises:
    @hookspecs.hookimpl
    def transform_lead(self, lead: Lead, context: RelayContext) -> Lead:
        raise ValueError(f"cannot handle {lead.external_prospect_id}")


class Tryfirst:
    @hookspecs.hookimpl(tryfirst=True)
    def transform_lead(self, lead: Lead) -> Lead:
        return attrs.evolve(lead, messages={k: f"{v}[first]" for k, v in lead.messages.items()})


def _lead(lead_id: str = "crm-1") -> Lead:
    return Lead(external_prospect_id=lead_id, messages={"connection_request": "Hi", "hiring_activity": None})


def test_transform_lead_is_a_fold_in_registration_order() -> None:
    """Two transform_lead plugins compose: the second receives what the first returned."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Transform("+a"), name="a")
    pm.register(Unchanged(), name="unchanged")
    pm.register(Transform("+b"), name="b")
    [lead] = pm.transform_leads([_lead()], CONTEXT)
    assert lead.messages == {"connection_request": "Hi+a+b", "hiring_activity": None}


def test_tryfirst_runs_before_registration_order() -> None:
    """``tryfirst`` implementations fold first, whatever their registration order."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Transform("+a"), name="a")
    pm.register(Tryfirst(), name="first")
    [lead] = pm.transform_leads([_lead()], CONTEXT)
    assert lead.messages["connection_request"] == "Hi[first]+a"


def test_a_raising_transform_is_recorded_and_the_lead_passes_on() -> None:
    """A raising implementation leaves the lead unchanged for the next one, with its error recorded."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Transform("+a"), name="a")
    pm.register(Raises(), name="raises")
    pm.register(Transform("+b"), name="b")
    errors: list[PluginError] = []
    leads = pm.transform_leads([_lead("crm-1"), _lead("crm-2")], CONTEXT, errors=errors)
    assert [lead.messages["connection_request"] for lead in leads] == ["Hi+a+b", "Hi+a+b"]
    assert errors == [
        PluginError(
            plugin="raises",
            hook="transform_lead",
            subject="lead crm-1",
            error="ValueError: cannot handle crm-1",
        ),
        PluginError(
            plugin="raises",
            hook="transform_lead",
            subject="lead crm-2",
            error="ValueError: cannot handle crm-2",
        ),
    ]


def test_a_transform_returning_something_else_is_an_error() -> None:
    """Returning neither a Lead nor None is recorded, and the value is ignored."""

    class Wrong:
        @hookspecs.hookimpl
        def transform_lead(self, lead: Lead) -> Any:
            return {"external_prospect_id": "x"}

    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Wrong(), name="wrong")
    errors: list[PluginError] = []
    [lead] = pm.transform_leads([_lead()], CONTEXT, errors=errors)
    assert lead == _lead()
    assert errors[0].error == "returned dict, not a Lead or None"


def test_broadcast_isolates_a_raising_implementation() -> None:
    """`dispatch` calls every implementation even when one raises, recording the error with the subject."""
    seen: list[str] = []

    def plugin(name: str, fail: bool = False) -> object:
        class P:
            @hookspecs.hookimpl
            def on_generation_complete(self, result: Any, context: RelayContext) -> None:
                seen.append(name)
                if fail:
                    raise RuntimeError("boom")

        return P()

    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(plugin("one"), name="one")
    pm.register(plugin("two", fail=True), name="two")
    pm.register(plugin("three"), name="three")
    errors: list[PluginError] = []
    pm.dispatch("on_generation_complete", None, CONTEXT, subject="batch batch-1", errors=errors)
    assert seen == ["one", "two", "three"]
    assert [(e.plugin, e.subject, e.error) for e in errors] == [
        ("two", "batch batch-1", "RuntimeError: boom")
    ]


def test_the_implementation_cache_follows_register_and_unregister() -> None:
    """Cached implementation lists and compiled dispatchers are rebuilt when a plugin comes or goes."""
    pm = PluginManager(environ={}, entry_points=False).load()
    assert pm.impls("transform_lead") == ()
    pm.register(Transform("+a"), name="a")
    assert [i.plugin for i in pm.impls("transform_lead")] == ["a"]
    assert pm.transform_leads([_lead()], CONTEXT)[0].messages["connection_request"] == "Hi+a"
    pm.register(Transform("+b"), name="b")
    assert pm.transform_leads([_lead()], CONTEXT)[0].messages["connection_request"] == "Hi+a+b"
    pm.unregister(name="a")
    assert pm.transform_leads([_lead()], CONTEXT)[0].messages["connection_request"] == "Hi+b"
    pm.unregister(name="b")
    assert pm.impls("transform_lead") == ()
    assert pm.transform_leads([_lead()], CONTEXT) == [_lead()]


def test_dispatch_many_passes_each_implementation_the_arguments_it_declared() -> None:
    """Implementations may take any subset of the arguments; a raising one is isolated per call."""
    seen: list[tuple[str, Any]] = []

    class All:
        @hookspecs.hookimpl
        def on_message_fetched(self, message: Any, lead: Any, context: Any) -> None:
            seen.append(("all", (message, lead, context)))

    class MessageOnly:
        @hookspecs.hookimpl
        def on_message_fetched(self, message: Any) -> None:
            seen.append(("message", message))
            if message == "m2":
                raise LookupError("no contact")

    class ContextFirst:
        @hookspecs.hookimpl
        def on_message_fetched(self, context: Any, message: Any) -> None:
            seen.append(("context", (context, message)))

    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(All(), name="all")
    pm.register(MessageOnly(), name="message-only")
    pm.register(ContextFirst(), name="context-first")
    errors: list[PluginError] = []
    pm.dispatch_many(
        "on_message_fetched",
        [("m1", "l1", "c"), ("m2", "l2", "c")],
        subject=lambda a: f"message {a[0]}",
        errors=errors,
    )
    assert seen == [
        ("all", ("m1", "l1", "c")),
        ("message", "m1"),
        ("context", ("c", "m1")),
        ("all", ("m2", "l2", "c")),
        ("message", "m2"),
        ("context", ("c", "m2")),
    ]
    assert errors == [
        PluginError(
            plugin="message-only",
            hook="on_message_fetched",
            subject="message m2",
            error="LookupError: no contact",
        )
    ]


class BadDestinations:
    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register("Not A Name", lambda d: None)
        register("store", lambda d: None)
        register("fine", "not callable")
        register("ok", lambda d: None)


def test_destination_registrations_are_checked() -> None:
    """Bad names, taken names and non-callables are recorded against the plugin; valid ones register."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(BadDestinations(), name="bad")
    [row] = pm.describe()
    assert row["destinations"] == ["ok"]
    assert len(row["errors"]) == 3
    assert "already registered by plugin 'msgrelay.store'" in row["errors"][1]
    assert pm.destinations.get("store").plugin == "msgrelay.store"
    pm.unregister(name="bad")
    assert "ok" not in pm.destinations


def test_tracing_logs_every_hook_call(caplog: pytest.LogCaptureFixture) -> None:
    """MSGRELAY_TRACE_PLUGINS=1 logs each call: hook, plugin, argument summary (ids, never texts)."""
    pm = PluginManager(environ={"MSGRELAY_TRACE_PLUGINS": "1"}, entry_points=False).load()
    pm.register(Transform("+secret-text"), name="a")
    with caplog.at_level(logging.DEBUG, logger="msgrelay.plugins.trace"):
        pm.transform_leads([_lead("crm-7")], CONTEXT)
    [record] = [r for r in caplog.records if r.name == "msgrelay.plugins.trace"]
    line = record.getMessage()
    assert line.startswith("transform_lead[a](lead=<Lead crm-7>, context=<upscale batch-1>) ok in ")
    assert "Hi" not in line


def test_tracers_see_calls_and_can_be_removed() -> None:
    """`add_tracer` callbacks receive each call with its arguments and result."""
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(Transform("+a"), name="a")
    calls: list[Any] = []
    remove = pm.add_tracer(calls.append)
    pm.transform_leads([_lead()], CONTEXT)
    remove()
    pm.transform_leads([_lead()], CONTEXT)
    assert len(calls) == 1
    assert calls[0].kwargs["lead"] == _lead()
    assert calls[0].result.messages["connection_request"] == "Hi+a"
