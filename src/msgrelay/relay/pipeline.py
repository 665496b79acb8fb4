"""The relay: from a completed generation to every destination, losing nothing, paying nothing twice.

For each batch (a ``secure_request_id``) in the ledger's inbox::

    claim → retrieve (202: again later) → on_generation_complete → transform_lead (a fold)
          → on_message_fetched (per message)
          → items + one outbox row per (destination, lead), in one transaction
    claim outbox rows → deliver (batched per destination) → delivered | retry with backoff | dead letter

Every arrow is a row in the ledger, so work left half done by a crash resumes on the next run
(`Relay.run_pending`), and several workers can share the work without a double delivery: a claim's
lease is renewed while its worker delivers (`msgrelay.relay.deliver`). A delivery may still be attempted
twice when a worker dies between delivering and recording it, or when one ``deliver`` call outlasts
the whole lease: its ``key`` is the same on every attempt, so the destination drops the repeat (the
built-in store does).

This module holds the orchestration: the entry points and the loop. `Relay` builds and owns one step
for each half, `msgrelay.relay.fanout.FanOut` (claim → retrieve → hooks → outbox) and
`msgrelay.relay.deliver.Deliverer` (outbox → destinations), and hands each what it needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from msgrelay.config import MSGRELAY_DESTINATIONS, env_list
from msgrelay.destinations import DEFAULT_DESTINATION
from msgrelay.destinations.delivery import COLLECT, UPSCALE
from msgrelay.destinations.routes import RouteTable
from msgrelay.ledger.base import Ledger
from msgrelay.ledger.owners import new_owner
from msgrelay.ledger.url import open_ledger
from msgrelay.plugins import PluginManager
from msgrelay.relay.collection import paused_collection
from msgrelay.relay.deliver import Deliverer, check_batch_size
from msgrelay.relay.fanout import CollectSource, FanOut, UpscaleSource
from msgrelay.relay.policy import DeliveryPolicy
from msgrelay.relay.poll import Poller, poll_settings
from msgrelay.relay.report import RelayReport
from msgrelay.upscale.validation import validate_secure_request_id

__all__ = ["Relay", "default_destinations", "explicit_destinations"]


def default_destinations(environ: Mapping[str, str] | None = None) -> list[str]:
    """``MSGRELAY_DESTINATIONS``, else ``["store"]``."""
    return env_list(MSGRELAY_DESTINATIONS, environ) or [DEFAULT_DESTINATION]


def explicit_destinations(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """``MSGRELAY_DESTINATIONS`` when it names any, else None (routes, then ``store``, decide)."""
    return env_list(MSGRELAY_DESTINATIONS, environ) or None


class Relay:
    """Relays completed generations from the ledger to destinations.

    Args:
        ledger: the ledger (default: `msgrelay.ledger.open_ledger`, from ``MSGRELAY_LEDGER_URL``).
        plugins: the host's plugin manager (default: a loaded `PluginManager`).
        upscale: an Upscale client, or a function making one on first use (default `UpscaleClient()`,
            configured from the environment).
        collect: the same for Collect (default `CollectClient()`), for `relay_collect`.
        destinations: where every batch goes unless it names its own (default ``MSGRELAY_DESTINATIONS``).
            When neither is set, each batch is routed when it is fanned out: the ``route_destinations``
            hook, then ``routes``, then the built-in ``store`` (`msgrelay.relay.route`).
        routes: the config file's routes (`msgrelay.destinations.load_config(path).routes`; install
            its instances first with ``config.install(plugins.destinations)``).
        policy: retry and dead-letter policy.
        batch_size: deliveries claimed together (at least 1); they are delivered and recorded per
            destination, in chunks sized to the destination's pace. A relay run's rounds grow past it
            while they feed only fast batch destinations, such as the store (`msgrelay.relay.deliver`).
        wait_timeout: seconds a generation may stay incomplete, from its batch's arrival, before the
            batch is dead-lettered; meanwhile it is retrieved again with backoff, never waited on, so it
            holds up no other batch (`msgrelay.relay.fanout`).
        poll_interval: the first wait before retrieving an incomplete generation again (None: 2 s).
        poll_after / poll_give_up: when submissions whose batch never arrived are first polled, and
            when they are given up (`poll_due`); default ``MSGRELAY_POLL_AFTER`` (900 s) and
            ``MSGRELAY_POLL_GIVE_UP`` (172800 s).
        clock / sleep: injected for tests (the default sleep ends early when `stop` is called).
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
        poll_after: float | None = None,
        poll_give_up: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        routes: RouteTable | None = None,
    ) -> None:
        # Checked before a default ledger or plugin manager is made: a bad call leaves nothing behind.
        check_batch_size(batch_size)
        env_after, env_give_up = poll_settings()
        ledger = ledger if ledger is not None else open_ledger()
        plugins = plugins if plugins is not None else PluginManager().load()
        policy = policy or DeliveryPolicy()
        owner = new_owner()
        explicit = list(destinations) if destinations else explicit_destinations()
        #: Claims due batches, retrieves them, runs the hooks and writes the outbox rows.
        self.fan_out = FanOut(
            ledger=ledger,
            plugins=plugins,
            destinations=explicit or [DEFAULT_DESTINATION],
            explicit=explicit is not None,
            routes=routes,
            policy=policy,
            owner=owner,
            clock=clock,
            upscale=upscale,
            collect=collect,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
        )
        #: Claims due outbox rows and hands them to their destinations.
        self.deliverer = Deliverer(
            ledger=ledger, plugins=plugins, policy=policy, owner=owner, clock=clock, batch_size=batch_size
        )
        #: Polls submissions whose completion webhook has not come (`poll_due`).
        self.poller = Poller(
            ledger=ledger,
            retrieve=lambda sid: self.fan_out.upscale_client().retrieve_messages(sid),
            account=lambda: str(getattr(self.fan_out.upscale_client(), "account", "")),
            clock=clock,
            poll_after=env_after if poll_after is None else poll_after,
            give_up=env_give_up if poll_give_up is None else poll_give_up,
        )
        #: Waits for the next retry in `relay` and `run_pending`; injected for tests.
        self.sleep = sleep if sleep is not None else self.deliverer.wait_for_stop

    # The settings live in the steps that use them; the relay reads them there and a change made through
    # the relay reaches every step that uses the setting, so the relay and its steps never disagree.
    @property
    def ledger(self) -> Ledger:
        """The ledger both steps claim rows from."""
        return self.fan_out.ledger

    @ledger.setter
    def ledger(self, value: Ledger) -> None:
        self.fan_out.ledger = self.deliverer.ledger = value

    @property
    def plugins(self) -> PluginManager:
        """The host's plugin manager (hooks and destinations)."""
        return self.fan_out.plugins

    @plugins.setter
    def plugins(self, value: PluginManager) -> None:
        self.fan_out.plugins = self.deliverer.plugins = value

    @property
    def policy(self) -> DeliveryPolicy:
        """When to retry and when to dead-letter."""
        return self.fan_out.policy

    @policy.setter
    def policy(self, value: DeliveryPolicy) -> None:
        self.fan_out.policy = self.deliverer.policy = value

    @property
    def owner(self) -> str:
        """This worker's identity in the ledger's claims."""
        return self.fan_out.owner

    @owner.setter
    def owner(self, value: str) -> None:
        self.fan_out.owner = self.deliverer.owner = value

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds, as the ledger's times are written."""
        return self.fan_out.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.fan_out.clock = self.deliverer.clock = value

    @property
    def destinations(self) -> list[str]:
        """Where batches go unless a batch names its own (when not explicit: unless routed elsewhere)."""
        return self.fan_out.destinations

    @destinations.setter
    def destinations(self, value: Sequence[str]) -> None:
        # Set by the caller, so explicit: they beat routes, as ``destinations=`` does.
        self.fan_out.destinations = list(value)
        self.fan_out.explicit = True

    @property
    def routes(self) -> RouteTable:
        """The config file's routes, for batches without explicit destinations."""
        return self.fan_out.routes

    @routes.setter
    def routes(self, value: RouteTable) -> None:
        self.fan_out.routes = value

    def _given(self, destinations: Sequence[str] | None) -> list[str] | None:
        """The destinations to record on a batch: given, else explicit, else None (routed at fan-out)."""
        if destinations:
            return list(destinations)
        return list(self.destinations) if self.fan_out.explicit else None

    @property
    def wait_timeout(self) -> float:
        """Seconds to wait for a generation that is not complete yet."""
        return self.fan_out.wait_timeout

    @wait_timeout.setter
    def wait_timeout(self, value: float) -> None:
        self.fan_out.wait_timeout = value

    @property
    def poll_interval(self) -> float | None:
        """The first wait between polls of an incomplete generation (None: the client's default)."""
        return self.fan_out.poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float | None) -> None:
        self.fan_out.poll_interval = value

    @property
    def batch_size(self) -> int:
        """Deliveries claimed together (at least 1)."""
        return self.deliverer.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        check_batch_size(value)
        self.deliverer.batch_size = value

    # --- entry points ----------------------------------------------------------------------------
    def relay(
        self, secure_request_id: str, *, destinations: Sequence[str] | None = None, max_wait: float = 60.0
    ) -> RelayReport:
        """Relay one generation now: record it, retrieve it, deliver it, retrying within ``max_wait`` s.

        Raises `ConfigurationError` before anything is written when a destination is unknown, and
        `ValidationError` when the id is not UUID-shaped. The id is stored as retrieval uses it (stripped,
        lower case), so ``ID``, ``id`` and ``" ID "`` are one batch with one set of delivery keys.
        """
        secure_request_id = validate_secure_request_id(secure_request_id)
        dests = self._given(destinations)
        self.plugins.destinations.resolve(dests or [])
        now = self.clock()
        created = self.ledger.record_event(
            UPSCALE, secure_request_id, event=None, destinations=dests, now=now
        )
        if not created and dests:
            self.ledger.add_destinations(UPSCALE, secure_request_id, dests, now=now)
        return self._run(RelayReport(), source=UPSCALE, batch_id=secure_request_id, max_wait=max_wait)

    def relay_collect(
        self, request_id: str, *, destinations: Sequence[str] | None = None, max_wait: float = 60.0
    ) -> RelayReport:
        """Relay a Collect request's messages: one delivery per (destination, message).

        Run again later, it fetches the request's messages again and delivers only the new ones.
        Surrounding blanks are stripped from the id (Collect ids are case-sensitive: the case is kept).
        """
        request_id = request_id.strip()
        dests = self._given(destinations)
        self.plugins.destinations.resolve(dests or [])
        now = self.clock()
        if not self.ledger.record_event(COLLECT, request_id, event=None, destinations=dests, now=now):
            if dests:
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

    def stop(self) -> None:
        """Stop soon, from any thread or a signal handler: claim nothing more, start no other delivery.

        The ``deliver`` call in progress finishes and is recorded; the rest of the round's deliveries
        are released at once for any worker (counted in the report's ``released``), and the running
        `relay`, `run_pending`, `process` or `deliver_due` returns its report.
        """
        self.deliverer.stop()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self.deliverer.stopping

    def close(self) -> None:
        """Close the Upscale and Collect clients this relay made (not one it was given), and its threads."""
        self.deliverer.close()
        self.fan_out.close()

    # --- the loop --------------------------------------------------------------------------------
    def _run(
        self, report: RelayReport, *, source: str | None = None, batch_id: str | None = None, max_wait: float
    ) -> RelayReport:
        deadline = self.clock() + max_wait
        while not self.stopping:
            fanned = self.fan_out.run_due(report, source=source, batch_id=batch_id)
            if self.deliverer.stopping:  # a stop during the fan-out
                break
            delivered = self._deliver_rounds(report, source=source, batch_id=batch_id)
            if fanned or delivered:
                continue
            now = self.clock()
            due = self.ledger.next_due(source, batch_id, now=now)
            if due is None or due > deadline:
                return report
            # Something is due again before the deadline (a retry, or another worker's lease): wait for it.
            self.sleep(max(due - now, 0.01))
        return report

    def poll_due(self) -> int:
        """Poll each due submission whose batch has not arrived (no webhook yet): once, no waiting.

        A complete one is put in the inbox, as a webhook would, for the next `run_pending`; one past
        ``poll_give_up`` is dead-lettered with the reason. Returns how many reached the inbox.
        """
        return self.poller.run_due()

    def fan_out_due(self, *, source: str | None = None, batch_id: str | None = None) -> RelayReport:
        """Only the first half: retrieve and fan out every due batch, deliver nothing.

        With `deliver_due`, lets separate workers (or processes) do the two halves.
        """
        report = RelayReport()
        self.fan_out.run_due(report, source=source, batch_id=batch_id)
        return report

    def deliver_due(self, *, source: str | None = None, batch_id: str | None = None) -> RelayReport:
        """Only the second half: deliver every due outbox row once (no waiting for retries)."""
        report = RelayReport()
        self._deliver_rounds(report, source=source, batch_id=batch_id)
        return report

    def _deliver_rounds(self, report: RelayReport, *, source: str | None, batch_id: str | None) -> int:
        """`Deliverer.run_due`, a round at a time with garbage collection paused for each round
        (`msgrelay.relay.collection`), rounds growing while they feed fast batch destinations; the
        number claimed."""
        count = 0
        self.deliverer.round_limit = self.deliverer.batch_size  # grown again by this run's own rounds
        while not self.stopping:
            with paused_collection():
                claimed = self.deliverer.run_due(
                    report, source=source, batch_id=batch_id, rounds=1, grow=True
                )
            if not claimed:
                break
            count += claimed
        return count
