"""Helpers shared by the tests: installed-looking plugin distributions, a recording destination, a fake
clock, waiting on a condition with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from msgrelay.destinations.delivery import Delivery
from msgrelay.plugins import hookspecs


def make_distribution(
    root: Path, name: str, modules: Mapping[str, str], entry_points: Mapping[str, str]
) -> Path:
    """Write a distribution (modules plus a ``.dist-info`` with ``msgrelay`` entry points) under ``root``.

    Put ``root`` on ``sys.path`` (or ``PYTHONPATH``) and `importlib.metadata` finds it as installed.
    """
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[msgrelay]\n{lines}")
    return root


def wait_until(condition: Callable[[], bool], *, timeout: float = 120.0, what: str = "condition") -> None:
    """Poll until ``condition()`` holds; fail (not time) the test if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


@attrs.define
class Recorder:
    """A destination plugin that records every delivery it is given, and can fail on purpose.

    Attributes:
        name: the destination name it registers.
        fail_times: fail this many attempts of each delivery key before succeeding (-1: always).
    """

    name: str = "recorder"
    fail_times: int = 0
    calls: list[Delivery] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def keys(self) -> list[str]:
        return [d.key for d in self.calls]

    def deliver(self, delivery: Delivery) -> None:
        with self._lock:
            self.calls.append(delivery)
            attempts = sum(1 for d in self.calls if d.key == delivery.key)
        if self.fail_times < 0 or attempts <= self.fail_times:
            raise ConnectionError(f"{self.name} is down (attempt {attempts})")

    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register(self.name, self.deliver)


@attrs.define
class FakeClock:
    """An injected clock: stands still until a test (or a destination) moves it on."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def seed_old_rows(ledger_file: Path) -> None:
    """A ledger with two batches from 1970, far older than any retention: ``done``'s one delivery is
    delivered (prunable), ``waiting``'s is pending and due in the far future (never delivered, never
    pruned)."""
    from msgrelay.ledger import SQLiteLedger

    old = 1_000_000.0
    with SQLiteLedger(ledger_file) as ledger:
        for batch in ("done", "waiting"):
            ledger.record_event("upscale", batch, event="{}", destinations=None, now=old)
            claim = ledger.claim_batch("o", now=old, lease=60, batch_id=batch)
            assert claim is not None
            ledger.fan_out(
                claim, "o", context="{}", items=[(f"{batch}-1", "{}")], destinations=["nowhere"], now=old
            )
        ledger._conn().execute("UPDATE outbox SET next_attempt_at = 1e12 WHERE batch_id = 'waiting'")
        [done] = ledger.claim_deliveries("o", now=old, lease=60, limit=10, batch_id="done")
        ledger.settle("o", delivered=[done.id], failed=[], now=old)
