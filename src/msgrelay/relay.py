"""The relay: from a completed generation to every destination, losing nothing, paying nothing twice.

For each batch (a ``secure_request_id``) in the ledger's inbox::

    claim → retrieve (wait while 202) → on_generation_complete → transform_lead (a fold)
          → on_message_fetched (per message)
          → items + one outbox row per (destination, lead), in one transaction
    claim outbox rows → deliver (batched per destination) → delivered | retry with backoff | dead letter

Every arrow is a row in the ledger, so work left half done by a crash resumes on the next run
(`Relay.run_pending`), and several workers can share the work without a double delivery. A delivery
may still be attempted twice when a worker dies between delivering and recording it: its ``key`` is
the same on every attempt, so the destination drops the repeat (the built-in store does).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import attrs
import orjson

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import encode as encode_collect
from msgrelay.config import MSGRELAY_DESTINATIONS, env_list
from msgrelay.delivery import COLLECT, UPSCALE, Delivery, GeneratedMessage, RelayContext
from msgrelay.destinations import DEFAULT_DESTINATION, Destination
from msgrelay.errors import ConfigurationError
from msgrelay.failures import is_permanent, server_wait
from msgrelay.ledger import BatchClaim, DeliveryClaim, Failure, HookErrorRow, Ledger, SQLiteLedger, new_owner
from msgrelay.plugins import PluginError, PluginManager, describe_error
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.convert import structure_lead, unstructure_lead
from msgrelay.upscale.models import Lead, RetrieveResult

__all__ = ["CollectSource", "DeliveryPolicy", "Relay", "RelayReport", "UpscaleSource", "default_destinations"]


class CollectSource(Protocol):
    """What the relay needs from `msgrelay.collect.CollectClient`."""

    def list_messages(self, request_id: str, *, channel: str | None = None) -> Sequence[Any]: ...


class UpscaleSource(Protocol):
    """What the relay needs from `msgrelay.upscale.UpscaleClient`."""

    def retrieve_messages(self, secure_request_id: str) -> RetrieveResult: ...
    def wait_for_completion(self, secure_request_id: str, *, timeout: float = ...) -> RetrieveResult: ...


@attrs.frozen(kw_only=True)
class DeliveryPolicy:
    """When to retry a failed delivery or retrieval, and when to give up (dead-letter it).

    Attributes:
        max_attempts: attempts in total; the last failure dead-letters the row.
        backoff_base: the wait after the first failure, doubled after each later one.
        backoff_max: the longest wait.
        lease: seconds a worker holds a claimed delivery before another worker may take it over
            (a dead worker on the same host is detected at once and needs no lease to end).
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
    """What a relay run did."""

    batches: int = 0
    leads: int = 0
    messages: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
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


class Relay:
    """Relays completed generations from the ledger to destinations.

    Args:
        ledger: the ledger (default: the SQLite ledger under ``MSGRELAY_HOME``).
        plugins: the host's plugin manager (default: a loaded `PluginManager`).
        upscale: an Upscale client, or a function making one on first use (default `UpscaleClient()`,
            configured from the environment).
        collect: the same for Collect (default `CollectClient()`), for `relay_collect`.
        destinations: where batches go unless a batch names its own (default `default_destinations`).
        policy: retry and dead-letter policy.
        batch_size: deliveries claimed, delivered and recorded together.
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

    def _fan_out_due(self, report: RelayReport, *, source: str | None, batch_id: str | None) -> int:
        count = 0
        lease = self.wait_timeout + self.policy.lease
        while (
            claim := self.ledger.claim_batch(
                self.owner, now=self.clock(), lease=lease, source=source, batch_id=batch_id
            )
        ) is not None:
            self._fan_out(claim, report)
            count += 1
        return count

    def _deliver_due(self, report: RelayReport, *, source: str | None, batch_id: str | None) -> int:
        count = 0
        while rounds := self._deliver_round(report, source=source, batch_id=batch_id):
            count += rounds
        return count

    # --- fan-out ---------------------------------------------------------------------------------
    def _upscale_client(self) -> UpscaleSource:
        client = self._client
        if client is None:
            source = self._upscale
            if source is None:
                client = UpscaleClient()
            elif hasattr(source, "retrieve_messages"):
                client = cast(UpscaleSource, source)
            else:
                client = source()
            self._client = client
        return client

    def _retrieve(self, secure_request_id: str) -> RetrieveResult:
        client = self._upscale_client()
        result = client.retrieve_messages(secure_request_id)
        if not result.is_complete:
            if self.poll_interval is None:
                result = client.wait_for_completion(secure_request_id, timeout=self.wait_timeout)
            else:  # an `UpscaleClient` option, not part of the minimal `UpscaleSource`
                waiter: Any = client
                result = waiter.wait_for_completion(
                    secure_request_id, timeout=self.wait_timeout, initial_interval=self.poll_interval
                )
        return result

    def _fan_out(self, claim: BatchClaim, report: RelayReport) -> None:
        try:
            if claim.source == UPSCALE:
                self._fan_out_upscale(claim, report)
            elif claim.source == COLLECT:
                self._fan_out_collect(claim, report)
            else:
                raise ConfigurationError(f"no relay for source {claim.source!r}")
        except Exception as exc:  # any failure is retried later, then dead-lettered
            error = describe_error(exc)
            report.batch_failures += 1
            report.note(f"batch {claim.batch_id}: {error}")
            last = claim.attempts >= self.policy.max_attempts
            retry_at = None if last else self.clock() + self.policy.delay(claim.attempts)
            self.ledger.fail_batch(claim, self.owner, error=error, next_attempt_at=retry_at, now=self.clock())

    def _fan_out_upscale(self, claim: BatchClaim, report: RelayReport) -> None:
        sid = claim.batch_id
        dests = list(claim.destinations) if claim.destinations else self.destinations
        self.plugins.destinations.resolve(dests)
        result = self._retrieve(sid)
        context = RelayContext(
            source=UPSCALE,
            batch_id=sid,
            customer_id=result.account.automation_tool_customer_id,
            campaign_id=result.campaign.automation_tool_campaign_id,
            campaign_name=result.campaign.automation_tool_campaign_name,
            message_types=tuple(result.message_types),
            destinations=tuple(dests),
        )
        errors: list[PluginError] = []
        pm = self.plugins
        pm.dispatch("on_generation_complete", result, context, subject=f"batch {sid}", errors=errors)
        leads = pm.transform_leads(_complete_messages(result), context, errors=errors)
        report.messages += sum(1 for lead in leads for text in lead.messages.values() if text is not None)
        pm.dispatch_many(
            "on_message_fetched",
            (
                (
                    GeneratedMessage(
                        secure_request_id=sid,
                        external_prospect_id=lead.external_prospect_id,
                        message_type=kind,
                        text=text,
                    ),
                    lead,
                    context,
                )
                for lead in leads
                for kind, text in lead.messages.items()
                if text is not None
            ),
            subject=lambda args: f"message {args[0].message_type} of lead {args[0].external_prospect_id}",
            errors=errors,
        )
        stored = self.ledger.fan_out(
            claim,
            self.owner,
            context=orjson.dumps(context.to_json()).decode(),
            items=_items(leads),
            destinations=dests,
            now=self.clock(),
        )
        self._record_hook_errors(errors, context, report)
        if stored:
            report.batches += 1
            report.leads += len(leads)

    def _fan_out_collect(self, claim: BatchClaim, report: RelayReport) -> None:
        request_id = claim.batch_id
        dests = list(claim.destinations) if claim.destinations else self.destinations
        self.plugins.destinations.resolve(dests)
        if self._collect_client is None:
            source = self._collect
            if source is None:
                self._collect_client = CollectClient()
            elif hasattr(source, "list_messages"):
                self._collect_client = cast(CollectSource, source)
            else:
                self._collect_client = source()
        messages = list(self._collect_client.list_messages(request_id))
        context = RelayContext(source=COLLECT, batch_id=request_id, destinations=tuple(dests))
        errors: list[PluginError] = []
        self.plugins.dispatch_many(
            "on_message_fetched",
            ((message, None, context) for message in messages),
            subject=lambda args: f"message {getattr(args[0], 'id', None)} of request {request_id}",
            errors=errors,
        )
        items = [
            (
                str(getattr(m, "id", None) or f"message-{i}"),
                orjson.dumps(encode_collect(m), default=str).decode(),
            )
            for i, m in enumerate(messages)
        ]
        stored = self.ledger.fan_out(
            claim,
            self.owner,
            context=orjson.dumps(context.to_json()).decode(),
            items=items,
            destinations=dests,
            now=self.clock(),
        )
        self._record_hook_errors(errors, context, report)
        if stored:
            report.batches += 1
            report.messages += len(messages)

    def _record_hook_errors(
        self, errors: list[PluginError], context: RelayContext, report: RelayReport
    ) -> None:
        if not errors:
            return
        report.hook_errors += len(errors)
        for error in errors[:3]:
            report.note(str(error))
        rows = [
            HookErrorRow(
                plugin=e.plugin,
                hook=e.hook or "",
                subject=e.subject,
                error=e.error,
                source=context.source,
                batch_id=context.batch_id,
            )
            for e in errors
        ]
        self.ledger.record_hook_errors(rows, now=self.clock())

    # --- delivery --------------------------------------------------------------------------------
    def _deliver_round(self, report: RelayReport, *, source: str | None, batch_id: str | None) -> int:
        claims = self.ledger.claim_deliveries(
            self.owner,
            now=self.clock(),
            lease=self.policy.lease,
            limit=self.batch_size,
            source=source,
            batch_id=batch_id,
        )
        groups: dict[str, list[DeliveryClaim]] = {}
        for claim in claims:
            groups.setdefault(claim.destination, []).append(claim)
        contexts: dict[str | None, RelayContext] = {}
        for name, group in groups.items():
            # Recorded per destination, so a slow destination does not hold back what others finished.
            self._deliver_group(name, group, contexts, report)
        return len(claims)

    def _deliver_group(
        self,
        name: str,
        group: list[DeliveryClaim],
        contexts: dict[str | None, RelayContext],
        report: RelayReport,
    ) -> None:
        failures: dict[str, BaseException] = {}
        deliveries: list[Delivery] = []
        destination: Destination | None = None
        try:
            destination = self.plugins.destinations.get(name)
        except ConfigurationError as exc:
            failures = {c.key: exc for c in group}
        for claim in group if destination is not None else ():
            try:
                deliveries.append(self._delivery(claim, contexts))
            except Exception as exc:  # an unreadable row is dead-lettered, not fatal
                failures[claim.key] = exc
        if destination is not None and deliveries:
            failures.update(destination.deliver_batch(deliveries))
        delivered: list[int] = []
        failed: list[Failure] = []
        now = self.clock()
        for claim in group:
            failure = failures.get(claim.key)
            if failure is None:
                delivered.append(claim.id)
                continue
            error = describe_error(failure)
            report.note(f"{name}: {error}")
            if claim.attempts >= self.policy.max_attempts or is_permanent(failure):
                failed.append(Failure(claim.id, error, None))
                report.dead += 1
            else:
                wait = max(self.policy.delay(claim.attempts), server_wait(failure) or 0.0)
                failed.append(Failure(claim.id, error, now + wait))
                report.retried += 1
        self.ledger.settle(self.owner, delivered=delivered, failed=failed, now=now)
        report.delivered += len(delivered)

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
            return Delivery(
                destination=claim.destination,
                key=claim.key,
                context=context,
                lead=structure_lead(payload),
                attempt=claim.attempts,
            )
        return Delivery(
            destination=claim.destination,
            key=claim.key,
            context=context,
            message=payload,
            attempt=claim.attempts,
        )


def _complete_messages(result: RetrieveResult) -> list[Lead]:
    """Each lead with every requested message type present (None where nothing was generated)."""
    types = result.message_types
    return [
        lead
        if all(t in lead.messages for t in types)
        else attrs.evolve(lead, messages=result.messages_of(lead))
        for lead in result.leads
    ]


def _items(leads: Sequence[Lead]) -> list[tuple[str, str]]:
    """``(item_id, payload)`` per lead; a lead id seen twice gets a suffix, so neither is dropped."""
    seen: dict[str, int] = {}
    items = []
    for lead in leads:
        item_id = lead.external_prospect_id
        count = seen.get(item_id, 0)
        seen[item_id] = count + 1
        if count:
            item_id = f"{item_id}#{count + 1}"
        items.append((item_id, orjson.dumps(unstructure_lead(lead), default=str).decode()))
    return items
