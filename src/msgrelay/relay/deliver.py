"""The relay's second half: due outbox rows → destinations → delivered, retried or dead-lettered.

::

    claim outbox rows → deliver (batched per destination) → delivered | retry with backoff | dead letter

Each round claims up to ``batch_size`` due rows with one lease (`DeliveryPolicy.lease`), groups them
by destination and hands each group to the destination's ``deliver_batch``, in chunks; outcomes are
recorded per chunk, so a slow destination does not hold back what the others finished.

The lease is what keeps a second worker off rows this one is delivering, so it must not run out
while this worker may still deliver them: a `Heartbeat` thread renews the lease of every row of the
round still held, every third of the lease, however long one ``deliver`` call takes. Rows it could not
renew (their lease ran out anyway, and another worker took them over) are dropped, not delivered, and
`settle` records an outcome only for the worker holding the claim. A chunk is sized from the
destination's last measured pace to take at most `CHUNK_SHARE` of the lease; a destination whose pace
is not known yet gets `FIRST_CHUNK` rows.

A relay run (`Deliverer.run_due` with ``grow``: the pipeline's loop, not a Celery task, whose rate
limits count rounds) lets the round grow while it only feeds fast batch destinations: after a round
whose every row went to a ``deliver_many`` destination, was delivered, and took at most `GROW_WITHIN`
seconds, the next claims `ROUND_GROWTH` times as many rows, up to `ROUND_GROWTH_MAX` times
``batch_size``; any other round sets it back to ``batch_size``. Each round costs a claim, a store
write and a settle, each a transaction with its fsync: a 10,000-lead batch into the built-in store
took 20 rounds and about 70 commits, where 4 would do the writes (issue 14). The lease is unchanged:
chunks are still sized to the pace, and every held row is renewed, however many.

Outcomes are recorded as deliveries complete, in small groups (`RECORD_EVERY` outcomes, or
`RECORD_AFTER` seconds), not after a whole chunk: a stop or a crash repeats at most that group. After
`Deliverer.stop` no row is claimed and no delivery started; the rows of the round not yet delivered
are released at once (`Ledger.release_claims`: pending, due now) for any worker to take, and
counted in the report's ``released``.

No ``deliver`` call holds the worker for ever: each runs in a thread of its own, and the worker waits
for it at most the destination's ``deliver_timeout`` (`DestinationRegistry.timeout_of`, default 60 s).
A call that outlasts it is left running, and its rows stay claimed: the heartbeat keeps renewing their
lease and the round does not release them, so no worker (this one included) delivers them again while
the call may still succeed. When the call returns, its outcome is recorded like any other (delivered,
or retried with ``timed out after N s, then: <error>``). Only if the process ends first do the rows go
back to the ledger (their lease runs out, or the next run frees them) and are delivered again: at least
once, with the same key.

A failed delivery follows `DeliveryPolicy.next_attempt_at`, the rule the fan-out follows too: dead after
the last attempt or when retrying cannot help, else retried after the backoff or the far side's
``Retry-After``. `Deliverer` is the second of the two steps `msgrelay.relay.Relay` owns; it can run
alone (`Relay.deliver_due`), with another worker fanning out.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import orjson

from msgrelay.destinations import Destination
from msgrelay.destinations.delivery import UPSCALE, Delivery, RelayContext
from msgrelay.errors import ConfigurationError, MsgrelayError
from msgrelay.ledger.base import DeliveryClaim, Failure, Ledger
from msgrelay.plugins import PluginManager
from msgrelay.plugins.dispatch import describe_error
from msgrelay.relay.heartbeat import Heartbeat
from msgrelay.relay.metrics import DELIVERIES, DELIVERY_SECONDS
from msgrelay.relay.policy import DeliveryPolicy
from msgrelay.relay.report import RelayReport

__all__ = [
    "CHUNK_SHARE",
    "FIRST_CHUNK",
    "GROW_WITHIN",
    "RECORD_AFTER",
    "RECORD_EVERY",
    "ROUND_GROWTH",
    "ROUND_GROWTH_MAX",
    "Deliverer",
    "DeliveryTimeoutError",
    "check_batch_size",
]

#: Rows handed at once to a destination whose pace this relay has not measured yet: few enough that
#: only a destination taking over lease / FIRST_CHUNK (300 / 16: 18 s) per delivery outlasts the lease
#: with them, and enough that a ``deliver_many`` destination still gets a real batch on first use.
FIRST_CHUNK = 16
#: The share of the lease a chunk is sized to take at the destination's last pace, so the lease still
#: holds if the destination slows down (up to 1 / CHUNK_SHARE times) in the middle of a chunk.
CHUNK_SHARE = 0.25
#: Outcomes of one-at-a-time deliveries recorded together at most: what a crash can make a destination
#: see twice (a stop repeats nothing: it records what is done first).
RECORD_EVERY = 5
#: Real seconds after which the outcomes gathered so far are recorded, however few.
RECORD_AFTER = 1.0
#: A growing relay run claims this many times the last round's rows after a fast, clean batch round...
ROUND_GROWTH = 4
#: ... up to this many times ``batch_size`` (8,000 rows at the default 500)...
ROUND_GROWTH_MAX = 16
#: ... when that round took at most these real seconds (a slower destination keeps ``batch_size``).
GROW_WITHIN = 1.0


_Ready = tuple[DeliveryClaim, Delivery]
_Failures = dict[str, BaseException]


class DeliveryTimeoutError(MsgrelayError):
    """A ``deliver`` call outlasted its destination's ``deliver_timeout`` (and then failed): retried."""

    retryable = True


class _Call:
    """One ``deliver_batch`` call, run by a `_Caller`, which the worker may stop waiting for."""

    def __init__(self, destination: Destination, deliveries: list[Delivery]) -> None:
        self._destination = destination
        self._deliveries = deliveries
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._failures: _Failures = {}
        self._late: Callable[[_Failures], None] | None = None

    def result(self, seconds: float, late: Callable[[_Failures], None]) -> _Failures | None:
        """The failures, or None when the call outlasts ``seconds``: ``late`` then gets them when it ends."""
        self._done.wait(seconds)
        with self._lock:
            if self._done.is_set():
                return self._failures
            self._late = late
            return None

    def run(self) -> None:
        try:
            failures = self._destination.deliver_batch(self._deliveries)
        except BaseException as exc:
            failures = {d.key: exc for d in self._deliveries}
        with self._lock:
            self._failures = failures
            self._done.set()
            late = self._late
        if late is not None:
            late(failures)


class _Caller:
    """The thread a `Deliverer` runs its deliver calls on, one after another.

    One thread for every call, not a thread per call: starting a thread costs about 0.1 ms (more on a
    loaded machine), a tenth of a one-at-a-time webhook POST. A call the deliverer stopped waiting for
    (it outlasted its timeout) keeps this thread until it returns; the deliverer then `retire`s it and
    takes a new one, so the next call never queues behind a hung one.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="msgrelay-deliver", daemon=True)
        self._thread.start()

    def submit(self, call: _Call) -> None:
        self._calls.put(call)

    def retire(self) -> None:
        """End the thread once the call it is running (if any) returns."""
        self._calls.put(None)

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            call.run()


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` itself, or a `ValueError` when it is below 1."""
    if batch_size < 1:
        # LIMIT 0 would claim nothing, and the relay would report success having delivered nothing.
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return batch_size


class Deliverer:
    """Deliver due outbox rows: the second half of the relay.

    Args:
        ledger: where deliveries are claimed, their leases renewed and their outcomes settled.
        plugins: the host's plugin manager (its destination registry).
        policy: the lease of a claim, and when a failed delivery is retried or dead-lettered.
        owner: this worker's identity in the ledger's claims.
        clock: seconds since the epoch; injected for tests.
        batch_size: deliveries claimed together (at least 1); they are delivered and recorded per
            destination, in chunks sized to the destination's pace.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        plugins: PluginManager,
        policy: DeliveryPolicy,
        owner: str,
        clock: Callable[[], float],
        batch_size: int = 500,
    ) -> None:
        self.ledger = ledger
        self.plugins = plugins
        self.policy = policy
        self.owner = owner
        self.clock = clock
        self.batch_size = check_batch_size(batch_size)
        #: Seconds per delivery each destination took in its last chunk (sizes its next chunks).
        self.pace: dict[str, float] = {}
        #: Keeps the leases of the rows being delivered alive (`msgrelay.relay.heartbeat`).
        self.heartbeat = Heartbeat(ledger=ledger, owner=owner, lease=policy.lease, clock=clock)
        self._stop = threading.Event()
        #: Rows the next round of a growing run claims (`run_due` with ``grow``).
        self.round_limit = self.batch_size
        #: Whether the round under way has fed only ``deliver_many`` destinations so far.
        self._only_batch_destinations = True
        #: Rows whose ``deliver`` call outlasted its timeout and still runs: held, never released.
        self._running_late: set[int] = set()
        self._late_lock = threading.Lock()
        #: Per thread using this deliverer: the thread its deliver calls run on (made on first use;
        #: replaced after a call outlasts its timeout), so two threads' calls never queue behind each other.
        self._callers = threading.local()
        self._all_callers: list[_Caller] = []

    def run_due(
        self,
        report: RelayReport,
        *,
        source: str | None = None,
        batch_id: str | None = None,
        destination: str | None = None,
        rounds: int | None = None,
        grow: bool = False,
    ) -> int:
        """Deliver every due row (of one source, batch or destination, if given) once, round after round;
        the number claimed. A failure is recorded on its row (retried later or dead), not raised.

        Args:
            rounds: stop after this many claims of ``batch_size`` rows (None: until none is due); a
                Celery task delivers one round, so a destination's rate limit counts rounds.
            grow: claim `round_limit` rows a round, grown after each fast round that fed only batch
                destinations (see the module's docstring); else ``batch_size``. The caller sets
                `round_limit` back to ``batch_size`` when its run starts.
        """
        count = done = 0
        while not self.stopping and (rounds is None or done < rounds):
            limit = self.round_limit if grow else self.batch_size
            started = time.monotonic()
            before = (report.retried, report.dead, report.lost, report.released, report.delivered)
            claimed = self._deliver_round(
                report, source=source, batch_id=batch_id, destination=destination, limit=limit
            )
            if grow:
                clean = (report.retried, report.dead, report.lost, report.released) == before[:4]
                fast = time.monotonic() - started <= GROW_WITHIN
                batched = report.delivered - before[4] == claimed and self._only_batch_destinations
                if clean and fast and batched:
                    self.round_limit = min(limit * ROUND_GROWTH, self.batch_size * ROUND_GROWTH_MAX)
                else:
                    self.round_limit = self.batch_size
            if not claimed:
                break
            count += claimed
            done += 1
        return count

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called: no new claim, no new delivery."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Claim nothing more, start no other delivery; the call in progress finishes and is recorded.

        Safe from any thread, or a signal handler.
        """
        self._stop.set()

    def wait_for_stop(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if `stop` is called meanwhile."""
        self._stop.wait(seconds)

    def close(self) -> None:
        """Stop the lease heartbeat thread and the thread deliver calls run on."""
        self.heartbeat.close()
        with self._late_lock:
            callers, self._all_callers = self._all_callers, []
        for caller in callers:
            caller.retire()

    def _deliver_round(
        self,
        report: RelayReport,
        *,
        source: str | None,
        batch_id: str | None,
        destination: str | None = None,
        limit: int | None = None,
    ) -> int:
        self._only_batch_destinations = True
        claims = self.ledger.claim_deliveries(
            self.owner,
            now=self.clock(),
            lease=self.policy.lease,
            limit=self.batch_size if limit is None else limit,
            source=source,
            batch_id=batch_id,
            destination=destination,
        )
        if not claims:
            return 0
        groups: dict[str, list[DeliveryClaim]] = {}
        for claim in claims:
            groups.setdefault(claim.destination, []).append(claim)
        contexts: dict[str | None, RelayContext] = {}
        beat = self.heartbeat
        # The relay's setters may have changed these since the heartbeat was made.
        beat.lease, beat.clock = self.policy.lease, self.clock
        beat.ledger, beat.owner = self.ledger, self.owner
        beat.hold(claim.id for claim in claims)
        lost: set[int] = set()
        fresh = True  # the claim itself has just set the lease
        try:
            for name, group in groups.items():
                rest = group
                while rest and not self.stopping:
                    if not fresh:
                        # Besides the heartbeat's beats: the relay's own clock may run apart from real time.
                        beat.renew()
                        gone = beat.lost()
                        rest = [c for c in rest if c.id not in gone]
                        if not rest:
                            break
                    fresh = False
                    size = self._chunk_size(name, len(rest))
                    chunk, rest = rest[:size], rest[size:]
                    started = self.clock()
                    lost |= self._deliver_chunk(name, chunk, contexts, report)
                    self.pace[name] = max(self.clock() - started, 0.0) / len(chunk)
        finally:
            lost |= beat.lost()
            with self._late_lock:
                # Rows of a call still running late stay claimed (and renewed) until it returns.
                left = beat.held() - self._running_late
            beat.drop(left)
            if left:
                # A stop (or an error) before these were delivered: due now, for any worker.
                report.released += self.ledger.release_claims(self.owner, sorted(left), now=self.clock())
        # A row whose claim was lost belongs to the worker that took it over: not counted here.
        report.lost += len(lost)
        return len(claims)

    def _chunk_size(self, name: str, remaining: int) -> int:
        pace = self.pace.get(name)
        if pace is None:
            return min(FIRST_CHUNK, remaining)
        if pace <= 0.0:
            return remaining
        return max(1, min(remaining, int(self.policy.lease * CHUNK_SHARE / pace)))

    def _deliver_chunk(
        self,
        name: str,
        chunk: list[DeliveryClaim],
        contexts: dict[str | None, RelayContext],
        report: RelayReport,
    ) -> set[int]:
        """Deliver a chunk and record the outcomes as they come; the ids found lost meanwhile."""
        failures: dict[str, BaseException] = {}
        ready: list[_Ready] = []
        destination: Destination | None = None
        try:
            destination = self.plugins.destinations.get(name)
        except ConfigurationError as exc:
            failures = {c.key: exc for c in chunk}
        for claim in chunk if destination is not None else ():
            try:
                ready.append((claim, self._delivery(claim, contexts)))
            except Exception as exc:  # an unreadable row is dead-lettered, not fatal
                failures[claim.key] = exc
        # Failures known before any call (an unknown destination, an unreadable row) first.
        done = [c for c in chunk if c.key in failures]
        lost = self._record(name, done, failures, report) if done else set()
        if destination is None or not ready:
            return lost
        if destination.deliver_many is not None:
            ready = self._still_held(ready)
            if ready:
                with DELIVERY_SECONDS.labels(destination=name).time():
                    outcome = self._call(name, destination, ready, report)
                if outcome is not None:
                    failures.update(outcome)
                    lost |= self._record(name, [c for c, _ in ready], failures, report)
            return lost
        # One at a time: each outcome recorded soon after it is known, in small groups.
        self._only_batch_destinations = False
        pending: list[DeliveryClaim] = []
        flushed = time.monotonic()
        for claim, delivery in ready:
            if self.stopping:
                break
            if claim.id in self.heartbeat.lost():
                continue  # another worker's now
            with DELIVERY_SECONDS.labels(destination=name).time():
                outcome = self._call(name, destination, [(claim, delivery)], report)
            if outcome is None:
                break  # recorded when it returns; the rest go back to the ledger with the round
            failures.update(outcome)
            pending.append(claim)
            if len(pending) >= RECORD_EVERY or time.monotonic() - flushed >= RECORD_AFTER:
                lost |= self._record(name, pending, failures, report)
                pending, flushed = [], time.monotonic()
        if pending:
            lost |= self._record(name, pending, failures, report)
        return lost

    def _call(
        self, name: str, destination: Destination, ready: list[_Ready], report: RelayReport
    ) -> _Failures | None:
        """Deliver, waiting at most the destination's timeout: the failures, or None when the call runs on
        (its rows stay claimed, and its outcome is recorded when it returns)."""
        seconds = self.plugins.destinations.timeout_of(name)
        claims = [c for c, _ in ready]
        ids = {c.id for c in claims}
        with self._late_lock:
            self._running_late |= ids  # before the call starts: a round ending meanwhile keeps them

        def late(failures: _Failures) -> None:
            timed_out = f"timed out after {seconds:g} s, then: "
            failures = {
                key: DeliveryTimeoutError(timed_out + describe_error(exc)) for key, exc in failures.items()
            }
            try:
                self._record(name, claims, failures, RelayReport())
            finally:
                with self._late_lock:
                    self._running_late -= ids

        call = _Call(destination, [d for _, d in ready])
        caller: _Caller | None = getattr(self._callers, "caller", None)
        if caller is None:
            caller = self._callers.caller = _Caller()
            with self._late_lock:
                self._all_callers.append(caller)
        caller.submit(call)
        outcome = call.result(seconds, late)
        if outcome is None:
            # That thread is the hung call's now; the next call gets a thread of its own.
            caller.retire()
            self._callers.caller = None
            with self._late_lock:
                self._all_callers.remove(caller)
            report.note(f"{name}: timed out after {seconds:g} s; recorded when the call returns")
            return None
        with self._late_lock:
            self._running_late -= ids
        return outcome

    def _still_held(self, ready: list[_Ready]) -> list[_Ready]:
        gone = self.heartbeat.lost()
        return [(c, d) for c, d in ready if c.id not in gone]

    def _record(
        self, name: str, claims: list[DeliveryClaim], failures: dict[str, BaseException], report: RelayReport
    ) -> set[int]:
        """Settle these claims' outcomes (no failure: delivered); the ids this worker no longer held."""
        self.heartbeat.drop(c.id for c in claims)
        delivered: list[int] = []
        failed: list[Failure] = []
        now = self.clock()
        for claim in claims:
            failure = failures.get(claim.key)
            if failure is None:
                delivered.append(claim.id)
                continue
            error = describe_error(failure)
            report.note(f"{name}: {error}")
            retry_at = self.policy.next_attempt_at(claim.attempts, failure, now=now)
            failed.append(Failure(claim.id, error, retry_at))
        lost = set(self.ledger.settle(self.owner, delivered=delivered, failed=failed, now=now))
        settled = sum(1 for i in delivered if i not in lost)
        report.delivered += settled
        for f in failed:
            if f.id not in lost:
                if f.next_attempt_at is None:
                    report.dead += 1
                else:
                    report.retried += 1
        _count(name, delivered=settled, failed=[f for f in failed if f.id not in lost])
        return lost

    def _delivery(self, claim: DeliveryClaim, contexts: dict[str | None, RelayContext]) -> Delivery:
        context = contexts.get(claim.context)
        if context is None:
            data = (
                orjson.loads(claim.context)
                if claim.context
                else {"source": claim.source, "batch_id": claim.batch_id}
            )
            context = contexts[claim.context] = RelayContext.from_json(data)
        payload = orjson.loads(claim.payload)
        if claim.source == UPSCALE:
            if type(payload) is not dict or type(payload.get("external_prospect_id")) is not str:
                raise TypeError(f"the stored lead of item {claim.item_id!r} is not a lead object")
            # The `Lead` is built only if the destination reads it: the store writes from the payload.
            return Delivery(
                destination=claim.destination,
                key=claim.key,
                context=context,
                lead_wire=payload,
                attempt=claim.attempts,
            )
        return Delivery(
            destination=claim.destination,
            key=claim.key,
            context=context,
            message=payload,
            attempt=claim.attempts,
        )


def _count(name: str, *, delivered: int, failed: list[Failure]) -> None:
    """Count a chunk's settled outcomes for ``GET /metrics`` (rows another worker took over left out)."""
    dead = sum(1 for f in failed if f.next_attempt_at is None)
    for outcome, count in (("delivered", delivered), ("retry", len(failed) - dead), ("dead", dead)):
        if count:
            DELIVERIES.labels(destination=name, outcome=outcome).inc(count)
