"""Clients for the Collect tests: one on a cassette target, one on a live loopback sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from msgrelay.collect import CollectClient
from msgrelay.sandbox import Sandbox
from msgrelay.transport.retry import NO_RETRIES
from tests.conftest import Target


class SleepRecorder:
    """Stands in for ``time.sleep``: records each wait, waits for nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def client(collect_target: Target) -> Iterator[CollectClient]:
    """A client on the cassette target (replay, the sandbox, or the live API when re-recording)."""
    with CollectClient(
        api_key=collect_target.api_key, base_url=collect_target.base_url, retry=NO_RETRIES
    ) as made:
        yield made


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def live(sandbox: Sandbox, sleeps: SleepRecorder) -> Iterator[CollectClient]:
    """A client on a running sandbox, whose waits between retries are recorded, not slept."""
    with CollectClient(api_key=sandbox.collect_api_key, base_url=sandbox.collect_url, sleep=sleeps) as made:
        yield made
