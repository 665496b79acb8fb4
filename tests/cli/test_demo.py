"""The demo flow: sandbox → generate → webhook → receiver → relay → store, on loopback."""

from __future__ import annotations

import io
import os
from importlib import metadata
from pathlib import Path

import orjson
import pytest

from msgrelay.cli.demo import DEMO_SEQUENCE, run_full_demo
from msgrelay.destinations.store import Store


def test_the_demo_runs_the_whole_flow_and_summarises_it(tmp_path: Path) -> None:
    """Every sample lead is delivered to the demo's store; the summary says how many and where."""
    out, err = io.StringIO(), io.StringIO()
    summary = run_full_demo(seconds_per_message=0.001, home=tmp_path / "run", out=out, err=err)
    assert orjson.loads(out.getvalue()) == summary
    leads = summary["leads"]
    assert leads > 0
    assert summary["messages_requested"] == leads * len(DEMO_SEQUENCE)
    assert (summary["delivered"], summary["failed"], summary["hook_errors"]) == (leads, 0, 0)
    store = Store(Path(summary["store"]))
    assert store.summary()["leads"] == leads
    assert store.summary()["generated"] == summary["messages_generated"]
    assert summary["store"] == str(tmp_path / "run" / "store.sqlite3")
    progress = err.getvalue()
    assert "completion webhook received" in progress
    assert "token=" not in progress


#: The first-party destination plugins `make test` installs, each with a vendor emulator for the demo.
EMULATED = ("hubspot", "lemlist", "collect")


@pytest.mark.parametrize("destination", EMULATED)
def test_the_demo_delivers_to_a_plugin_through_its_vendor_emulator(
    destination: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`msgrelay demo --to X` starts X's emulator, delivers every lead there too and shows what it got."""
    installed = {ep.name for ep in metadata.entry_points(group="msgrelay")}
    assert destination in installed, f"make test installs every plugin; {destination} is missing"
    for name in list(os.environ):
        if name.startswith(f"MSGRELAY_{destination.upper()}_"):
            monkeypatch.delenv(name)
    err = io.StringIO()
    summary = run_full_demo(
        seconds_per_message=0.001, to=[destination], home=tmp_path / "run", out=io.StringIO(), err=err
    )
    leads = summary["leads"]
    assert (summary["delivered"], summary["failed"]) == (2 * leads, 0)  # the store and the vendor
    assert len(summary["received"][destination]) == leads
    assert f"{destination}: vendor emulator on http://127.0.0.1:" in err.getvalue()
    assert not any(name.startswith(f"MSGRELAY_{destination.upper()}_") for name in os.environ)
