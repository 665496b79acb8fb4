"""Interleaved timing: every case of a comparison measured in the same rounds, medians reported.

These machines are noisy (other processes share the two cores), so each round runs every case once,
in a rotating order, and a figure is the median over the rounds. A ratio is only ever taken between
cases of one comparison, measured in the same rounds.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping

import attrs

#: Rounds per comparison; every figure is a median over these.
ROUNDS = 7
#: A sample repeats a fast case until it lasts this long, then reports the time per call.
MIN_SAMPLE_SECONDS = 0.05


@attrs.frozen
class Sample:
    """The timings of one case: seconds per call in each round."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def _once(case: Callable[[], object], number: int) -> float:
    gc.collect()
    start = time.perf_counter()
    kept = [case() for _ in range(number)]  # freed after the clock stops: freeing is not decoding
    elapsed = time.perf_counter() - start
    del kept
    return elapsed / number


def compare(
    cases: Mapping[str, Callable[[], object]],
    *,
    rounds: int = ROUNDS,
    min_seconds: float = MIN_SAMPLE_SECONDS,
) -> dict[str, Sample]:
    """Time each case ``rounds`` times, interleaved; returns a `Sample` per case name."""
    numbers = {}
    for name, case in cases.items():
        first = _once(case, 1)  # also a warm-up: caches, lazily built schemas
        numbers[name] = max(1, math.ceil(min_seconds / max(first, 1e-9)))
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_once(cases[name], numbers[name]))
    return {name: Sample(name, tuple(times[name])) for name in names}


def fmt_seconds(seconds: float) -> str:
    """A duration with a unit a reader takes in at a glance."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"
