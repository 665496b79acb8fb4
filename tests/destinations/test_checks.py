"""Destinations contribute to ``msgrelay check``: ``register(..., check=fn)``, run and contained."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from msgrelay.destinations import CheckResult, Delivery, DestinationRegistry, RegisterDestination
from msgrelay.destinations.checks import checked, run_check
from msgrelay.destinations.store import Store
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager, hookimpl


def _deliver(delivery: Delivery) -> None:
    pass


class Checked:
    """A plugin with one checked destination, one without a check, one with a check that is not callable."""

    @hookimpl
    def register_destinations(self, register: RegisterDestination) -> None:
        register("checked", _deliver, check=lambda: CheckResult("checked: settings", True, "fine"))
        register("unchecked", _deliver)
        register("broken-check", _deliver, check="not callable")  # type: ignore[arg-type]


def test_a_registered_check_is_kept_and_a_non_callable_one_refused() -> None:
    """``check=`` is stored on the destination; a non-callable check is an error of the plugin."""
    pm = PluginManager(environ={}, entry_points=False).load()
    try:
        pm.register(Checked(), name="checked-plugin")
        checked = pm.destinations.get("checked")
        assert checked.check is not None
        assert run_check("checked", checked.check) == [CheckResult("checked: settings", True, "fine")]
        assert pm.destinations.get("unchecked").check is None
        assert "broken-check" not in pm.destinations
        [row] = [r for r in pm.describe() if r["name"] == "checked-plugin"]
        assert row["errors"] == ["destination 'broken-check': check must be callable, got str"]
    finally:
        pm.unregister(name="checked-plugin")


def test_a_raising_check_is_one_failed_line() -> None:
    """A check that raises (even SystemExit) is contained as a failed line for its destination."""

    def explode() -> Iterable[CheckResult]:
        raise SystemExit("plugin bug")

    [line] = run_check("boom", explode)
    assert line.name == "boom: check"
    assert line.ok is False
    assert "SystemExit: plugin bug" in line.detail


def test_a_check_returning_no_lines_fails() -> None:
    """A check must say something: an empty answer or a foreign value is a failed line."""
    assert run_check("quiet", list)[0].ok is False
    assert run_check("odd", lambda: ["ok"])[0].ok is False  # type: ignore[arg-type]


def test_the_built_in_store_registers_its_check(tmp_path: Path) -> None:
    """The store's check proves its file writable."""
    registry = DestinationRegistry()
    Store(tmp_path / "store.sqlite3").register_as(registry.registrar("store-plugin", print))
    store = registry.get("store")
    assert store.check is not None
    [line] = run_check("store", store.check)
    assert line.ok is True
    assert line.detail.endswith("store.sqlite3")


def test_a_built_destinations_check_is_read_in_every_first_party_shape() -> None:
    """A type instance's ``check()`` may return lines, one text, a list of problems, or name/ok/detail
    objects; a raised msgrelay error is a failed line whose fix is its text."""

    @attrs.frozen
    class Legacy:
        name: str
        ok: bool
        detail: str

    assert checked("a", lambda: "key accepted")() == [CheckResult("a: settings", True, "key accepted")]
    assert checked("a", list)()[0].ok is True
    [problem] = checked("a", lambda: ["set A_TOKEN"])()
    assert (problem.ok, problem.fix) == (False, "set A_TOKEN")
    good, bad = checked("a", lambda: [Legacy("a: key", True, "fine"), Legacy("a: request", False, "set X")])()
    assert (good.ok, bad.ok, bad.fix) == (True, False, "set X")

    def refuse() -> str:
        raise ConfigurationError("set MSGRELAY_A_URL to the endpoint")

    [refused] = checked("a", refuse)()
    assert (refused.ok, refused.fix) == (False, "set MSGRELAY_A_URL to the endpoint")
