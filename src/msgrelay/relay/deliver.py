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
the call may still succeed; their ``last_error`` says ``timed out after N s; the call is still
running`` meanwhile. The destination is *hung* for this deliverer until the call returns: no other call
to it starts (at most one thread per destination waits on a hung far side), and its other rows, of this
round and of later ones, fail at once with ``timed out after N s`` (an attempt, retried after the
backoff and at least the timeout, dead-lettered after the last). When the call returns, its outcome is
recorded like any other (delivered, or retried with ``timed out after N s, then: <error>``).

A call still running `GIVE_UP_LEASES` leases after it started is given up: its rows are recorded as a
retryable failure, and another attempt may deliver them while the call still completes (the destination
then sees them twice, with the same ``delivery.key``). A run that ends (`Deliverer.abandon_late`, the
CLI) does the same with calls still running when it exits; a process that dies leaves the rows to their
lease, or to the next run that frees them. That is the at-least-once window.

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

import attrs
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
    "GIVE_UP_LEASES",
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
#: Leases after which a call still running past its timeout is given up (its rows retried): long
#: enough for any sane HTTP deadline, short enough that a call that never returns does not hold its
#: rows for ever.
GIVE_UP_LEASES = 2


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

    def wait(self, seconds: float) -> bool:
        """Whether the call has returned, waiting at most ``seconds``."""
        return self._done.wait(seconds)

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


@attrs.define(eq=False)
class _Hung:
    """A call that outlasted its destination's timeout and still runs: its destination gets no other call.

    ``state``: ``running``; ``returned`` once the call's outcome is being recorded; ``given_up`` once
    its rows were recorded as failed without it (`GIVE_UP_LEASES`, or `Deliverer.abandon_late`).
    """

    name: str
    call: _Call
    claims: list[DeliveryClaim]
    seconds: float
    since: float
    state: str = "running"


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
        #: The calls that outlasted their timeout and have not returned: their destinations are hung.
        self._hung: list[_Hung] = []
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
        self._give_up_overdue(report)
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
                    if self.hung(name):
                        # No call to a destination whose last one still hangs: these wait their retry.
                        lost |= self._time_out(name, rest, report)
                        break
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
        for index, (claim, delivery) in enumerate(ready):
            if self.stopping:
                break
            if claim.id in self.heartbeat.lost():
                continue  # another worker's now
            with DELIVERY_SECONDS.labels(destination=name).time():
                outcome = self._call(name, destination, [(claim, delivery)], report)
            if outcome is None:
                # Recorded when it returns; the rest of the chunk waits its retry (the destination hangs).
                rest = [c for c, _ in ready[index + 1 :]]
                lost |= self._time_out(name, rest, report)
                break
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
        (its rows stay claimed, the destination is hung, and its outcome is recorded when it returns)."""
        seconds = self.plugins.destinations.timeout_of(name)
        claims = [c for c, _ in ready]
        ids = {c.id for c in claims}
        with self._late_lock:
            self._running_late |= ids  # before the call starts: a round ending meanwhile keeps them
        call = _Call(destination, [d for _, d in ready])
        hung = _Hung(name=name, call=call, claims=claims, seconds=seconds, since=self.clock())

        def late(failures: _Failures) -> None:
            with self._late_lock:
                given_up, hung.state = hung.state == "given_up", "returned"
            try:
                if not given_up:  # else its rows were recorded failed already, and may be another's now
                    timed_out = f"timed out after {seconds:g} s, then: "
                    failures = {
                        key: DeliveryTimeoutError(timed_out + describe_error(exc))
                        for key, exc in failures.items()
                    }
                    self._record(name, claims, failures, RelayReport())
            finally:
                with self._late_lock:
                    self._running_late -= ids
                    if hung in self._hung:
                        self._hung.remove(hung)

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
                if hung.state == "running":  # it may have returned already
                    self._hung.append(hung)
            still = f"timed out after {seconds:g} s; the call is still running"
            self.ledger.note_claims(self.owner, sorted(ids), error=still)
            report.note(f"{name}: {still}")
            return None
        with self._late_lock:
            self._running_late -= ids
        return outcome

    def hung(self, name: str) -> bool:
        """Whether a call to this destination outlasted its timeout and has not returned yet."""
        with self._late_lock:
            return any(h.name == name for h in self._hung)

    def _time_out(self, name: str, claims: list[DeliveryClaim], report: RelayReport) -> set[int]:
        """Record these claims of a hung destination as timed out, never called: retried later (at least
        the timeout later, the hung call may well be over by then); the ids found lost meanwhile."""
        if not claims:
            return set()
        seconds = self.plugins.destinations.timeout_of(name)
        error = DeliveryTimeoutError(f"timed out after {seconds:g} s")
        return self._record(name, claims, dict.fromkeys((c.key for c in claims), error), report, wait=seconds)

    def _give_up_overdue(self, report: RelayReport) -> None:
        """Give up the calls still running `GIVE_UP_LEASES` leases after they started (rows retried)."""
        now = self.clock()
        self._give_up(report, lambda h: now - h.since >= GIVE_UP_LEASES * self.policy.lease, "given up")

    def abandon_late(self, wait: float) -> int:
        """Wait at most ``wait`` s for the calls still running past their timeout, then record the rows of
        those still running as retryable failures (for a run that ends now); how many rows.

        Their call may still reach the destination: it may then see them twice, with the same key.
        """
        deadline = time.monotonic() + wait
        with self._late_lock:
            calls = [h.call for h in self._hung]
        for call in calls:
            call.wait(max(deadline - time.monotonic(), 0.0))
        return self._give_up(RelayReport(), lambda h: True, "still running when the relay exited")

    def _give_up(self, report: RelayReport, due: Callable[[_Hung], bool], why: str) -> int:
        with self._late_lock:
            chosen = [h for h in self._hung if h.state == "running" and due(h)]
            for h in chosen:
                # Still hung (no new call starts) until it returns; but its rows are no longer its own.
                h.state = "given_up"
                self._running_late -= {c.id for c in h.claims}
        count = 0
        for h in chosen:
            error = DeliveryTimeoutError(
                f"timed out after {h.seconds:g} s; the call was still running: {why}"
            )
            lost = self._record(h.name, h.claims, dict.fromkeys((c.key for c in h.claims), error), report)
            count += sum(1 for c in h.claims if c.id not in lost)
        return count

    def _still_held(self, ready: list[_Ready]) -> list[_Ready]:
        gone = self.heartbeat.lost()
        return [(c, d) for c, d in ready if c.id not in gone]

    def _record(
        self,
        name: str,
        claims: list[DeliveryClaim],
        failures: dict[str, BaseException],
        report: RelayReport,
        *,
        wait: float = 0.0,
    ) -> set[int]:
        """Settle these claims' outcomes (no failure: delivered); the ids this worker no longer held.

        A retried failure waits at least ``wait`` s besides the policy's backoff."""
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
            if retry_at is not None:
                retry_at = max(retry_at, now + wait)
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
