"""Celery tasks: the relay's work spread over worker processes on any number of machines.

With ``MSGRELAY_BROKER_URL`` set (a Redis URL), ``msgrelay serve`` verifies, stores, answers and
enqueues; ``msgrelay worker`` processes run these tasks:

* ``msgrelay.fan_out(source, batch_id)``: claim the batch (or any due batch, with None), retrieve it,
  run the hooks, write its outbox rows, then nudge each of its destinations' delivery task;
* ``msgrelay.deliver.<destination>``: claim one round (``batch_size`` rows) of that destination's due
  deliveries and deliver them; nudge itself again when the round was full. One task name and one
  queue per destination, so a slow CRM never starves the others, and a rate limit per destination
  (``MSGRELAY_RATE_LIMITS=hubspot=10/m``, in rounds);
* ``msgrelay.sweep`` (every few seconds, from beat): release the claims of dead workers on this host,
  poll submissions whose webhook never came, nudge what is due, and run the housekeeping (retention
  pruning, with ``MSGRELAY_RETENTION_DAYS``) at most once per ``housekeeping_interval``.

A task is only a nudge: the ledger's claim decides who works (``FOR UPDATE SKIP LOCKED`` or
``BEGIN IMMEDIATE``), so a task run twice, late, or by two workers at once does no harm, and a lost
task is made up by the next sweep. Tasks are acknowledged late (``acks_late``), so a worker killed
mid-task leaves its message to be redelivered; its claims are released by the sweep (same host) or
when their lease ends (another host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celery import Celery

from msgrelay.config import MSGRELAY_BROKER_URL, MSGRELAY_RATE_LIMITS, env_list, read_env
from msgrelay.errors import ConfigurationError
from msgrelay.relay.pipeline import Relay
from msgrelay.relay.report import RelayReport

__all__ = [
    "FAN_OUT",
    "QUEUE",
    "SWEEP",
    "RelayTasks",
    "deliver_name",
    "rate_limits",
]

#: The queue of fan-outs and sweeps; each destination's deliveries have a queue of their own.
QUEUE = "msgrelay"
FAN_OUT = "msgrelay.fan_out"
SWEEP = "msgrelay.sweep"
#: Seconds between two sweeps.
DEFAULT_SWEEP_INTERVAL = 5.0
#: Seconds a nudge may wait in a queue before it is dropped. A nudge only says "look at the ledger": the
#: sweep sends a fresh one every few seconds while work is due, so an old one is worth nothing, and
#: without expiry a rate-limited destination's nudges would pile up in Redis for as long as it is behind.
NUDGE_EXPIRES = 60.0


def deliver_name(destination: str) -> str:
    """The task name, and the queue, of one destination's deliveries: ``msgrelay.deliver.<name>``."""
    return f"msgrelay.deliver.{destination}"


def rate_limits(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``MSGRELAY_RATE_LIMITS`` (``hubspot=10/m,lemlist=1/s``) as {destination: Celery rate}.

    Raises:
        ConfigurationError: an entry without ``=`` or with a rate Celery does not read.
    """
    limits: dict[str, str] = {}
    for entry in env_list(MSGRELAY_RATE_LIMITS, environ) or []:
        name, sep, rate = entry.partition("=")
        number, _, unit = rate.strip().partition("/")
        if (
            not sep
            or not name.strip()
            or not number.replace(".", "", 1).isdigit()
            or unit not in {"s", "m", "h"}
        ):
            raise ConfigurationError(
                f"{MSGRELAY_RATE_LIMITS}: {entry!r} is not NAME=RATE with RATE like 10/s, 100/m or 1000/h"
            )
        limits[name.strip()] = rate.strip()
    return limits


class RelayTasks:
    """The Celery app with msgrelay's tasks, for a receiver (to enqueue) or a worker (to run them).

    Args:
        relay_factory: makes a `Relay` (one per worker thread, made on its first task).
        broker_url: the broker (default ``MSGRELAY_BROKER_URL``).
        destinations: the destinations whose delivery tasks this process registers (a worker must
            know every one it consumes; a receiver only sends, and needs none).
        sweep_interval: seconds between sweeps, when this process runs beat.
        environ: where ``MSGRELAY_*`` settings are read (default the process environment).
        housekeeping: run by the first sweep this process runs, then at most once every
            ``housekeeping_interval`` seconds (a worker passes the retention pruning when
            ``MSGRELAY_RETENTION_DAYS`` is set). Its failure is logged by Celery and retried next time;
            it never stops the sweep's other work, which runs first.
        housekeeping_interval: seconds between two housekeeping runs.
    """

    def __init__(
        self,
        relay_factory: Callable[[], Relay],
        *,
        broker_url: str | None = None,
        destinations: Iterable[str] = (),
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        environ: Mapping[str, str] | None = None,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_interval: float = 3600.0,
    ) -> None:
        url = broker_url or read_env(MSGRELAY_BROKER_URL, environ)
        if not url:
            raise ConfigurationError(f"no broker: set {MSGRELAY_BROKER_URL}=redis://HOST:6379/0")
        self.relay_factory = relay_factory
        self.housekeeping = housekeeping
        self.housekeeping_interval = housekeeping_interval
        # Monotonic: a wall clock stepped back must not hold retention off for that long.
        self._next_housekeeping: float | None = None
        self._local = threading.local()
        self._relays: list[Relay] = []
        self._lock = threading.Lock()
        app = Celery("msgrelay", broker=url, set_as_current=False)
        app.conf.update(
            # A task is acknowledged once it has run: a worker killed mid-task leaves it to another.
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_ignore_result=True,
            task_default_queue=QUEUE,
            broker_connection_retry_on_startup=True,
            # The receiver enqueues inside its answer to the vendor: a broker down must not hold it long
            # (the event is stored; the sweep enqueues it later).
            task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
            broker_transport_options={"visibility_timeout": 900},
            worker_hijack_root_logger=False,
            beat_schedule={
                "msgrelay-sweep": {
                    "task": SWEEP,
                    "schedule": sweep_interval,
                    "options": {"queue": QUEUE, "expires": sweep_interval * 2},
                }
            },
        )
        self.app = app

        # Plain functions, not bound methods: Celery checks a call's arguments against the signature.
        def fan_out(source: str | None, batch_id: str | None) -> dict[str, Any]:
            return self.fan_out(source, batch_id)

        def sweep() -> None:
            self.sweep()

        app.task(name=FAN_OUT, ignore_result=True)(fan_out)
        app.task(name=SWEEP, ignore_result=True)(sweep)
        limits = rate_limits(environ)
        self.destinations = list(dict.fromkeys(destinations))
        for name in self.destinations:
            self._register_deliver(name, limits.get(name))

    def _register_deliver(self, destination: str, rate_limit: str | None) -> None:
        def deliver() -> int:
            return self.deliver(destination)

        deliver.__doc__ = f"Deliver one round of {destination!r}'s due rows."
        self.app.task(name=deliver_name(destination), rate_limit=rate_limit, ignore_result=True)(deliver)

    def queues(self) -> list[str]:
        """The queues a worker of this app consumes by default: fan-outs and sweeps, then each destination."""
        return [QUEUE, *(deliver_name(d) for d in self.destinations)]

    # --- enqueueing ------------------------------------------------------------------------------
    def enqueue_fan_out(self, source: str | None, batch_id: str | None) -> None:
        """Nudge a worker to fan out this batch (any due batch, with None)."""
        self.app.send_task(FAN_OUT, args=(source, batch_id), queue=QUEUE, expires=NUDGE_EXPIRES)

    def enqueue_deliver(self, destination: str) -> None:
        """Nudge a worker to deliver a round of this destination's due rows."""
        self.app.send_task(deliver_name(destination), queue=deliver_name(destination), expires=NUDGE_EXPIRES)

    # --- the tasks -------------------------------------------------------------------------------
    def relay(self) -> Relay:
        """This thread's relay (made on first use)."""
        relay: Relay | None = getattr(self._local, "relay", None)
        if relay is None:
            relay = self._local.relay = self.relay_factory()
            with self._lock:
                self._relays.append(relay)
        return relay

    def fan_out(self, source: str | None, batch_id: str | None) -> dict[str, Any]:
        """Fan out the batch (or every due batch), then nudge the delivery of its destinations."""
        relay = self.relay()
        report = relay.fan_out_due(source=source, batch_id=batch_id)
        if source is not None and batch_id is not None:
            batch = relay.ledger.get_batch(source, batch_id) or {}
            destinations = list(batch.get("destinations") or relay.destinations)
        else:
            destinations = relay.ledger.due_destinations(now=relay.clock())
        for destination in destinations:
            self.enqueue_deliver(destination)
        return report.to_json()

    def deliver(self, destination: str) -> int:
        """Deliver one round of the destination's due rows; nudge again when more may be due."""
        relay = self.relay()
        claimed = relay.deliverer.run_due(RelayReport(), destination=destination, rounds=1)
        if claimed >= relay.batch_size:
            self.enqueue_deliver(destination)
        return claimed

    def sweep(self) -> None:
        """Release dead workers' claims, poll submissions without a webhook, nudge what is due, and run
        the housekeeping when its interval has passed."""
        relay = self.relay()
        now = relay.clock()
        relay.ledger.release_orphans(now=now)
        relay.poll_due()
        self.enqueue_fan_out(None, None)
        for destination in relay.ledger.due_destinations(now=now):
            self.enqueue_deliver(destination)
        self._housekeep()

    def _housekeep(self) -> None:
        if self.housekeeping is None:
            return
        with self._lock:  # one sweep thread of this process runs it; the others skip
            due = self._next_housekeeping is None or time.monotonic() >= self._next_housekeeping
            if due:
                self._next_housekeeping = time.monotonic() + self.housekeeping_interval
        if due:
            self.housekeeping()

    def close(self) -> None:
        """Close every relay this process made."""
        with self._lock:
            relays, self._relays = self._relays, []
        for relay in relays:
            relay.close()
