"""A ``deliver`` call that hangs does not hold the worker, and its rows are not delivered twice."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay.destinations import DestinationRegistry, load_config
from msgrelay.destinations.delivery import UPSCALE, Delivery
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager, hookspecs
from msgrelay.relay import DeliveryPolicy
from msgrelay.relay.deliver import GIVE_UP_LEASES
from msgrelay.testing import RelayHarness
from tests.destinations.test_types import CrmPlugin
from tests.helpers import wait_until


@attrs.define
class Blocker:
    """A destination whose first call blocks until `release` is set, then succeeds or fails."""

    fail_when_released: bool = False
    release: threading.Event = attrs.field(factory=threading.Event)
    entered: list[str] = attrs.field(factory=list)
    delivered: list[str] = attrs.field(factory=list)

    def deliver(self, delivery: Delivery) -> None:
        self.entered.append(delivery.key)
        if len(self.entered) == 1:
            assert self.release.wait(60), "the test never released the destination"
            if self.fail_when_released:
                raise ConnectionError("blocker went down")
        self.delivered.append(delivery.key)

    @hookspecs.hookimpl
    def register_destinations(self, register: Callable[..., None]) -> None:
        register("blocker", self.deliver)


def _setup(harness: RelayHarness, register_plugin: Any, blocker: Blocker) -> str:
    register_plugin(blocker, name="blocker")
    harness.plugins.destinations.timeouts["blocker"] = 0.3
    return harness.submit(1)


def test_a_hung_call_frees_the_round_and_its_late_success_is_recorded_once(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """The round returns at the timeout; the row stays claimed (no second call, even in later rounds)
    until the hung call returns, and its success is then recorded: delivered exactly once."""
    harness, blocker = msgrelay_harness, Blocker()
    sid = _setup(harness, register_plugin, blocker)
    report = harness.relay.relay(sid, destinations=["blocker"], max_wait=0.0)
    assert report.delivered == 0
    assert any("blocker: timed out after 0.3 s" in e for e in report.errors)
    assert harness.ledger.batch_counts(UPSCALE, sid) == {"claimed": 1}
    assert harness.relay.run_pending().delivered == 0  # still running: not released, not delivered again
    assert len(blocker.entered) == 1
    blocker.release.set()
    wait_until(lambda: harness.ledger.batch_counts(UPSCALE, sid) == {"delivered": 1}, timeout=30.0)
    assert blocker.delivered == blocker.entered
    assert len(blocker.delivered) == 1


def test_a_hung_call_that_then_fails_is_retried_and_delivered_once(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A late failure is recorded as a retryable one naming the timeout; the retry delivers it, once."""
    harness, blocker = msgrelay_harness, Blocker(fail_when_released=True)
    sid = _setup(harness, register_plugin, blocker)
    assert harness.relay.relay(sid, destinations=["blocker"], max_wait=0.0).delivered == 0
    blocker.release.set()
    wait_until(lambda: harness.ledger.batch_counts(UPSCALE, sid) == {"pending": 1}, timeout=30.0)
    with closing(sqlite3.connect(harness.ledger.path)) as conn:
        (error,) = conn.execute("SELECT last_error FROM outbox").fetchone()
    assert error.startswith("DeliveryTimeoutError: timed out after 0.3 s, then: ")
    assert "blocker went down" in error
    assert harness.relay.run_pending(max_wait=30.0).delivered == 1
    assert len(blocker.entered) == 2
    assert len(blocker.delivered) == 1


def _blocked_in(function: Callable[..., Any]) -> int:
    """How many threads are inside ``function`` now (a hung call's thread is)."""
    code = function.__code__
    count = 0
    for frame in sys._current_frames().values():
        f: Any = frame
        while f is not None and f.f_code is not code:
            f = f.f_back
        count += f is not None
    return count


def test_a_hung_destination_gets_one_call_and_its_other_rows_wait_their_retry(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """50 rows to a one-at-a-time destination whose first call hangs (timeout 0.2 s): the round starts that
    one call only; the 49 others are recorded timed out, due later; the hung row stays claimed with a
    visible error. Released, the hung call's success is recorded and the 49 are delivered on their retry:
    each key delivered once."""
    harness, blocker = msgrelay_harness, Blocker()
    register_plugin(blocker, name="blocker")
    harness.plugins.destinations.timeouts["blocker"] = 0.2
    harness.relay.policy = DeliveryPolicy(backoff_base=3600.0, backoff_max=3600.0)  # retries far ahead
    sid = harness.submit(50)
    started = time.time()
    report = harness.relay.relay(sid, destinations=["blocker"], max_wait=0.0)
    assert len(blocker.entered) == 1
    assert _blocked_in(Blocker.deliver) == 1
    assert (report.retried, report.released, report.delivered) == (49, 0, 0)
    assert harness.relay.run_pending().delivered == 0  # nothing due, the hung row not released
    assert len(blocker.entered) == 1
    with closing(sqlite3.connect(harness.ledger.path)) as conn:
        rows = conn.execute("SELECT key, state, last_error, next_attempt_at FROM outbox").fetchall()
    (hung,) = [r for r in rows if r[1] == "claimed"]
    assert hung[0] == blocker.entered[0]
    assert hung[2] == "timed out after 0.2 s; the call is still running"
    waiting = [r for r in rows if r[1] == "pending"]
    assert len(waiting) == 49
    assert {r[2] for r in waiting} == {"DeliveryTimeoutError: timed out after 0.2 s"}
    assert min(r[3] for r in waiting) > started + 60.0  # the (jittered) hour of backoff, far ahead
    blocker.release.set()
    wait_until(lambda: harness.ledger.batch_counts(UPSCALE, sid) == {"delivered": 1, "pending": 49})
    later = time.time() + 7200.0
    harness.relay.clock = lambda: later  # the retries are due
    assert harness.relay.run_pending().delivered == 49
    assert harness.ledger.batch_counts(UPSCALE, sid) == {"delivered": 50}
    assert sorted(blocker.delivered) == sorted({r[0] for r in rows})


def test_a_call_that_never_returns_is_given_up_after_the_lease_bound(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """A call still running GIVE_UP_LEASES leases after it started is given up: its row is retried (the
    at-least-once window); the destination gets no second call while the first still runs."""
    harness, blocker = msgrelay_harness, Blocker()
    sid = _setup(harness, register_plugin, blocker)
    assert harness.relay.relay(sid, destinations=["blocker"], max_wait=0.0).delivered == 0
    later = time.time() + GIVE_UP_LEASES * harness.relay.policy.lease + 1.0
    harness.relay.clock = lambda: later
    report = harness.relay.run_pending()
    assert report.retried >= 1  # retried, but not called: still hung
    assert len(blocker.entered) == 1
    with closing(sqlite3.connect(harness.ledger.path)) as conn:
        (state, error) = conn.execute("SELECT state, last_error FROM outbox").fetchone()
    assert state == "pending"
    assert "the call was still running: given up" in error
    blocker.release.set()
    wait_until(lambda: _blocked_in(Blocker.deliver) == 0)
    wait_until(lambda: not harness.relay.deliverer.hung("blocker"))
    later += 3600.0
    assert harness.relay.run_pending().delivered == 1  # the at-least-once window: twice, same key
    assert blocker.delivered == [blocker.entered[0]] * 2


def test_deliver_timeout_is_an_instance_setting(tmp_path: Path) -> None:
    """``deliver_timeout`` in a ``[destinations.NAME]`` table sets that instance's timeout; a bad value
    is one line naming the file, the table and the key."""
    good = tmp_path / "good.toml"
    good.write_text('[destinations.crm-a]\ntype = "crm"\nportal = "1"\ndeliver_timeout = 12.5\n')
    plugins = PluginManager(environ={}, entry_points=False).load()
    plugins.register(CrmPlugin(), name="crm-plugin")
    load_config(good, environ={}).install(plugins.destinations)
    assert plugins.destinations.timeout_of("crm-a") == 12.5  # and not handed to the type as a setting
    assert DestinationRegistry(environ={}).timeout_of("crm-a") == 60.0
    bad = tmp_path / "bad.toml"
    bad.write_text('[destinations.archive]\ntype = "store"\ndeliver_timeout = "soon"\n')
    with pytest.raises(
        ConfigurationError, match=r"bad.toml: \[destinations.archive\] deliver_timeout: must be"
    ):
        load_config(bad)
