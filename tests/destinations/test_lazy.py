"""`LazyDestination`: built once on first use, a failed build raised to each delivery, closed once."""

from __future__ import annotations

import pytest

from msgrelay import Delivery, RelayContext
from msgrelay.destinations import LazyDestination
from msgrelay.errors import ConfigurationError


class OneByOne:
    """A destination with ``deliver`` only, failing the keys it is told to."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.delivered: list[str] = []
        self.closed = 0

    def deliver(self, delivery: Delivery) -> None:
        if delivery.key in self.failing:
            raise ConnectionError(f"{delivery.key} refused")
        self.delivered.append(delivery.key)

    def close(self) -> None:
        self.closed += 1


def _delivery(key: str) -> Delivery:
    return Delivery(destination="d", key=key, context=RelayContext(source="upscale", batch_id="b"))


def test_built_once_and_delivered_one_by_one_without_deliver_many() -> None:
    """The factory runs once; with no ``deliver_many`` every delivery is tried, failures by key."""
    built: list[OneByOne] = []

    def build() -> OneByOne:
        built.append(OneByOne({"k2"}))
        return built[-1]

    lazy = LazyDestination(build)
    assert built == []  # nothing built before it is needed
    failures = lazy.deliver_many([_delivery("k1"), _delivery("k2"), _delivery("k3")])
    lazy.deliver(_delivery("k4"))
    assert len(built) == 1
    assert built[0].delivered == ["k1", "k3", "k4"]
    assert list(failures) == ["k2"]
    lazy.close()
    lazy.close()
    assert built[0].closed == 1


def test_a_bad_setting_fails_each_delivery_until_it_is_fixed() -> None:
    """A factory that raises is not cached: each delivery gets the error, and a fixed setting builds."""
    settings = {"url": ""}

    def build() -> OneByOne:
        if not settings["url"]:
            raise ConfigurationError("MSGRELAY_X_URL: is required")
        return OneByOne(set())

    lazy = LazyDestination(build)
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="MSGRELAY_X_URL"):
            lazy.deliver(_delivery("k1"))
    settings["url"] = "https://example.com"
    lazy.deliver(_delivery("k1"))
    assert lazy.destination().delivered == ["k1"]
