"""The relay: from a completed generation to every destination, losing nothing, paying nothing twice.

For each batch (a ``secure_request_id``) in the ledger's inbox::

    claim → retrieve (wait while 202) → on_generation_complete → transform_lead (a fold)
          → on_message_fetched (per message)
          → items + one outbox row per (destination, lead), in one transaction
    claim outbox rows → deliver (batched per destination) → delivered | retry with backoff | dead letter

Every arrow is a row in the ledger, so work left half done by a crash resumes on the next run
(`Relay.run_pending`), and several workers can share the work without a double delivery: a claim's
lease is renewed while its worker delivers (`msgrelay.relay.deliver`). A delivery may still be attempted
twice when a worker dies between delivering and recording it, or when one ``deliver`` call outlasts
the whole lease: its ``key`` is the same on every attempt, so the destination drops the repeat (the
built-in store does).

This module holds the orchestration: the entry points and the loop. The two halves are mixed into
`Relay`: `msgrelay.relay.fanout.FanOutStep` (claim → retrieve → hooks → outbox) and
`msgrelay.relay.deliver.OutboxStep` (outbox → destinations).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from msgrelay.config import MSGRELAY_DESTINATIONS, env_list
from msgrelay.destinations import DEFAULT_DESTINATION
from msgrelay.destinations.delivery import COLLECT, UPSCALE
from msgrelay.ledger.base import Ledger
from msgrelay.ledger.owners import new_owner
from msgrelay.ledger.sqlite import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay.deliver import OutboxStep
from msgrelay.relay.fanout import CollectSource, FanOutStep, UpscaleSource

__all__ = ["CollectSource", "DeliveryPolicy", "Relay", "RelayReport", "UpscaleSource", "default_destinations"]


@attrs.frozen(kw_only=True)
class DeliveryPolicy:
    """When to retry a failed delivery or retrieval, and when to give up (dead-letter it).

    Attributes:
        max_attempts: attempts in total; the last failure dead-letters the row.
        backoff_base: the wait after the first failure, doubled after each later one.
        backoff_max: the longest wait.
        lease: seconds a worker holds a claimed delivery or batch before another worker may take it
            over (a dead worker on the same host is detected at once and needs no lease to end). The
            relay renews it between chunks of deliveries, so a long round keeps its rows; one
            ``deliver`` call must still finish within it.
    """

    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 900.0
    lease: float = 300.0
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def delay(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        # Half fixed, half random: never a zero wait, yet workers spread out.
        return ceiling / 2 + self.rng() * ceiling / 2


@attrs.define
class RelayReport:
    """What a relay run did.

    ``lost`` counts deliveries this worker claimed but no longer held when it came to deliver or
    record them: its lease had run out and another worker took them over, which delivers and records
    them (they are not in this report's ``delivered``, ``retried`` or ``dead``).
    """

    batches: int = 0
    leads: int = 0
    messages: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    batch_failures: int = 0
    hook_errors: int = 0
    errors: list[str] = attrs.field(factory=list)

    def note(self, error: str) -> None:
        """Keep the first few distinct errors for the summary."""
        if len(self.errors) < 10 and error not in self.errors:
            self.errors.append(error)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def default_destinations(environ: Mapping[str, str] | None = None) -> list[str]:
    """``MSGRELAY_DESTINATIONS``, else ``["store"]``."""
    return env_list(MSGRELAY_DESTINATIONS, environ) or [DEFAULT_DESTINATION]


class Relay(FanOutStep, OutboxStep):
    """Relays completed generations from the ledger to destinations.

    Args:
        ledger: the ledger (default: the SQLite ledger under ``MSGRELAY_HOME``).
        plugins: the host's plugin manager (default: a loaded `PluginManager`).
        upscale: an Upscale client, or a function making one on first use (default `UpscaleClient()`,
            configured from the environment).
        collect: the same for Collect (default `CollectClient()`), for `relay_collect`.
        destinations: where batches go unless a batch names its own (default `default_destinations`).
        policy: retry and dead-letter policy.
        batch_size: deliveries claimed together (at least 1); they are delivered and recorded per
            destination, in chunks sized to the destination's pace.
        wait_timeout: seconds to wait for a generation that is not complete yet.
        poll_interval: the first wait between polls of a generation not complete yet (None: the
            client's default).
        clock / sleep: injected for tests.
    """

    def __init__(
        self,
        *,
        ledger: Ledger | None = None,
        plugins: PluginManager | None = None,
        upscale: UpscaleSource | Callable[[], UpscaleSource] | None = None,
        collect: CollectSource | Callable[[], CollectSource] | None = None,
        destinations: Sequence[str] | None = None,
        policy: DeliveryPolicy | None = None,
        batch_size: int = 500,
        wait_timeout: float = 600.0,
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            # LIMIT 0 would claim nothing, and the relay would report success having delivered nothing.
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.ledger: Ledger = ledger if ledger is not None else SQLiteLedger()
        self.plugins = plugins if plugins is not None else PluginManager().load()
        self._upscale = upscale
        self._client: UpscaleSource | None = None
        self._collect = collect
        self._collect_client: CollectSource | None = None
        self.destinations = list(destinations) if destinations else default_destinations()
        self.policy = policy or DeliveryPolicy()
        self.batch_size = batch_size
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        #: This worker's identity in the ledger's claims.
        self.owner = new_owner()
        self._pace: dict[str, float] = {}

    # --- entry points ----------------------------------------------------------------------------
    def relay(
        self, secure_request_id: str, *, destinations: Sequence[str] | None = None, max_wait: float = 60.0
    ) -> RelayReport:
        """Relay one generation now: record it, retrieve it, deliver it, retrying within ``max_wait`` s.

        Raises `ConfigurationError` before anything is written when a destination is unknown.
        """
        dests = list(destinations) if destinations else self.destinations
        self.plugins.destinations.resolve(dests)
        now = self.clock()
        if not self.ledger.record_event(UPSCALE, secure_request_id, event=None, destinations=dests, now=now):
            self.ledger.add_destinations(UPSCALE, secure_request_id, dests, now=now)
        return self._run(RelayReport(), source=UPSCALE, batch_id=secure_request_id, max_wait=max_wait)

    def relay_collect(
        self, request_id: str, *, destinations: Sequence[str] | None = None, max_wait: float = 60.0
    ) -> RelayReport:
        """Relay a Collect request's messages: one delivery per (destination, message).

        Run again later, it fetches the request's messages again and delivers only the new ones.
        """
        dests = list(destinations) if destinations else self.destinations
        self.plugins.destinations.resolve(dests)
        now = self.clock()
        if not self.ledger.record_event(COLLECT, request_id, event=None, destinations=dests, now=now):
            self.ledger.add_destinations(COLLECT, request_id, dests, now=now)
            self.ledger.reopen_batch(COLLECT, request_id, now=now)
        return self._run(RelayReport(), source=COLLECT, batch_id=request_id, max_wait=max_wait)

    def process(self, source: str, batch_id: str) -> RelayReport:
        """Process one recorded batch (the receiver's background step); failures wait for a later run."""
        return self._run(RelayReport(), source=source, batch_id=batch_id, max_wait=0.0)

    def run_pending(self, *, max_wait: float = 0.0) -> RelayReport:
        """Resume everything due: batches not yet fanned out, deliveries not yet made (crash included)."""
        self.ledger.release_orphans(now=self.clock())
        return self._run(RelayReport(), max_wait=max_wait)

    def retry_dead(self, *, destination: str | None = None, max_wait: float = 0.0) -> RelayReport:
        """Re-drive dead-lettered batches and deliveries (of one destination, if given), then run them."""
        self.ledger.retry_dead(now=self.clock(), destination=destination)
        return self.run_pending(max_wait=max_wait)

    def status(self) -> dict[str, Any]:
        """Counts by state, dead letters, hook errors (``msgrelay relay --status``)."""
        return self.ledger.status()

    def close(self) -> None:
        """Close the Upscale client this relay made (not one it was given)."""
        client, self._client = self._client, None
        if client is not None and self._upscale is None:
            getattr(client, "close", lambda: None)()
        collect, self._collect_client = self._collect_client, None
        if collect is not None and self._collect is None:
            getattr(collect, "close", lambda: None)()

    # --- the loop --------------------------------------------------------------------------------
    def _run(
        self, report: RelayReport, *, source: str | None = None, batch_id: str | None = None, max_wait: float
    ) -> RelayReport:
        deadline = self.clock() + max_wait
        while True:
            fanned = self._fan_out_due(report, source=source, batch_id=batch_id)
            delivered = self._deliver_due(report, source=source, batch_id=batch_id)
            if fanned or delivered:
                continue
            due = self.ledger.next_due(source, batch_id)
            now = self.clock()
            if due is None or due > deadline:
                return report
            # Something is due again before the deadline (a retry, or another worker's lease): wait for it.
            self.sleep(max(due - now, 0.01))

    def fan_out_due(self, *, source: str | None = None, batch_id: str | None = None) -> RelayReport:
        """Only the first half: retrieve and fan out every due batch, deliver nothing.

        With `deliver_due`, lets separate workers (or processes) do the two halves.
        """
        report = RelayReport()
        self._fan_out_due(report, source=source, batch_id=batch_id)
        return report

    def deliver_due(self, *, source: str | None = None, batch_id: str | None = None) -> RelayReport:
        """Only the second half: deliver every due outbox row once (no waiting for retries)."""
        report = RelayReport()
        self._deliver_due(report, source=source, batch_id=batch_id)
        return report
