"""The demo flow: sandbox → generate → webhook → receiver → relay → store, on loopback."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

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
