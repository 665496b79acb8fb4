"""Garbage collection paused around a batch's fan-out and each delivery round, and back on after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from msgrelay.plugins import hookspecs
from msgrelay.relay.collection import paused_collection
from msgrelay.testing import RelayHarness
from msgrelay.upscale.models import Lead


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Each test starts with the collector on, and leaves it on."""
    gc.enable()
    yield
    gc.enable()


def test_the_relay_pauses_collection_while_it_fans_out_and_delivers(
    msgrelay_harness: RelayHarness, register_plugin: Any
) -> None:
    """Hooks and destinations run with the collector off; it is on again once the relay returns."""
    seen: dict[str, list[bool]] = {"transform_lead": [], "deliver": []}

    class Watcher:
        @hookspecs.hookimpl
        def transform_lead(self, lead: Lead) -> None:
            seen["transform_lead"].append(gc.isenabled())

        @hookspecs.hookimpl
        def register_destinations(self, register: Callable[..., None]) -> None:
            register("watcher", lambda delivery: seen["deliver"].append(gc.isenabled()))

    register_plugin(Watcher(), name="watcher")
    report = msgrelay_harness.generate(leads=3, destinations=["watcher"])
    assert report.delivered == 3
    assert seen == {"transform_lead": [False] * 3, "deliver": [False] * 3}
    assert gc.isenabled()


def test_a_pause_ends_when_the_last_thread_leaves_it() -> None:
    """Two threads paused at once: the collector stays off until both are done."""
    inside, release = threading.Barrier(2), threading.Event()
    states: list[bool] = []

    def unit() -> None:
        with paused_collection():
            inside.wait(timeout=30)
            release.wait(timeout=30)

    other = threading.Thread(target=unit)
    other.start()
    with paused_collection():
        inside.wait(timeout=30)
        release.set()
        other.join(timeout=30)
        states.append(gc.isenabled())  # the other thread has left; this one has not
    states.append(gc.isenabled())
    assert states == [False, True]


def test_a_host_that_disabled_collection_keeps_it_disabled() -> None:
    """A pause never switches on a collector the host had switched off."""
    gc.disable()
    with paused_collection():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_failing_unit_still_ends_the_pause() -> None:
    """An exception inside the pause switches the collector back on."""
    with pytest.raises(RuntimeError), paused_collection():
        raise RuntimeError("boom")
    assert gc.isenabled()
