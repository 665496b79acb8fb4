"""The relay's first half: a claimed batch → retrieve → hooks → items and outbox rows.

For each due batch in the ledger's inbox::

    claim → retrieve → on_generation_complete → transform_lead (a fold)
          → on_message_fetched (per message)
          → items + one outbox row per (destination, lead), in one transaction

A generation not complete yet (retrieve answers 202) is never waited on in-line, which would hold the
worker, and every complete batch behind it, for minutes: the batch goes back to the inbox to be retrieved
again after a backoff (`INCOMPLETE_BACKOFF_MAX` at most), with the progress as its ``last_error``, and is
dead-lettered once it has stayed incomplete ``wait_timeout`` seconds from its arrival. The re-check does
not count as one of the batch's attempts (``fail_batch(counted=False)``).

A Collect request goes the same way with its messages: ``on_message_fetched`` per message, then one
outbox row per (destination, message).

A batch is fanned out again when it is re-run (a Collect request relayed again to pick up new
messages) or when a fan-out did not commit (a crash, a failure, a claim lost to another worker). The
ledger keeps every item a committed fan-out stored, so ``on_message_fetched`` (and, for Upscale,
``on_generation_complete``) fire only for items no fan-out has stored yet. Hooks run before the commit,
so a fan-out that fires them and then does not commit fires them again when retried: at least once.

A batch that fails is retried with backoff, then dead-lettered; a failure retrying cannot fix (a 401,
a 404, a wrong setting: `msgrelay.transport.is_permanent`) is dead-lettered at once, and a 429's
``Retry-After`` is honoured, as for deliveries (`DeliveryPolicy.next_attempt_at`, the rule both
steps follow). `FanOut` is the first of the two steps `msgrelay.relay.Relay` owns; it can run alone
(`Relay.fan_out_due`), with another worker delivering.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs
import orjson

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import encode as encode_collect
from msgrelay.destinations.delivery import COLLECT, UPSCALE, GeneratedMessage, RelayContext
from msgrelay.destinations.routes import RouteTable
from msgrelay.errors import ConfigurationError, MsgrelayError
from msgrelay.ledger.base import BatchClaim, HookErrorRow, Ledger
from msgrelay.plugins import PluginManager
from msgrelay.plugins.dispatch import PluginError, describe_error
from msgrelay.relay.collection import paused_collection
from msgrelay.relay.join import join_submitted
from msgrelay.relay.metrics import POLLS
from msgrelay.relay.policy import DeliveryPolicy
from msgrelay.relay.report import RelayReport
from msgrelay.relay.route import Choice, choose_destinations
from msgrelay.relay.stream import ItemIds, ItemSpool, complete_messages, fold_in_chunks, is_empty
from msgrelay.transport.retry import jittered_backoff
from msgrelay.upscale.client import UpscaleClient, progress_of
from msgrelay.upscale.models import Lead, RetrieveResult

__all__ = ["INCOMPLETE_BACKOFF_BASE", "INCOMPLETE_BACKOFF_MAX", "CollectSource", "FanOut", "UpscaleSource"]

#: The first wait before retrieving an incomplete generation again (when no ``poll_interval`` is set).
INCOMPLETE_BACKOFF_BASE = 2.0
#: The longest wait between two retrievals of an incomplete generation.
INCOMPLETE_BACKOFF_MAX = 30.0


class GenerationIncompleteError(MsgrelayError):
    """The generation is not complete yet (retrieve answered 202): retrieved again later."""

    retryable = True


class CollectSource(Protocol):
    """What the relay needs from `msgrelay.collect.CollectClient`."""

    def list_messages(self, request_id: str, *, channel: str | None = None) -> Sequence[Any]: ...


class UpscaleSource(Protocol):
    """What the relay needs from `msgrelay.upscale.UpscaleClient`."""

    def retrieve_messages(self, secure_request_id: str) -> RetrieveResult: ...


class FanOut:
    """Retrieve and fan out due batches: the first half of the relay.

    Args:
        ledger: where batches are claimed and their items and deliveries stored.
        plugins: the host's plugin manager (hooks, and the destination registry).
        destinations: where a batch goes unless it names its own, or, when not ``explicit``, unless
            the ``route_destinations`` hook or ``routes`` choose (`msgrelay.relay.route`).
        explicit: whether ``destinations`` were chosen by the caller (``--to``,
            ``MSGRELAY_DESTINATIONS``), which then beat routes; else they are only the default.
        routes: the config file's routes (default: none).
        policy: the lease of a claim, and when a failed batch is retried or dead-lettered.
        owner: this worker's identity in the ledger's claims.
        clock: seconds since the epoch; injected for tests.
        upscale: an Upscale client, or a function making one on first use (default `UpscaleClient()`,
            configured from the environment).
        collect: the same for Collect (default `CollectClient()`).
        wait_timeout: seconds a generation may stay incomplete, from its batch's arrival, before the
            batch is dead-lettered; meanwhile it is retrieved again with backoff, never waited on.
        poll_interval: the first wait before retrieving an incomplete generation again (None:
            `INCOMPLETE_BACKOFF_BASE`).
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        plugins: PluginManager,
        destinations: Sequence[str],
        policy: DeliveryPolicy,
        owner: str,
        clock: Callable[[], float],
        upscale: UpscaleSource | Callable[[], UpscaleSource] | None = None,
        collect: CollectSource | Callable[[], CollectSource] | None = None,
        wait_timeout: float = 600.0,
        poll_interval: float | None = None,
        explicit: bool = True,
        routes: RouteTable | None = None,
    ) -> None:
        self.ledger = ledger
        self.plugins = plugins
        self.destinations = list(destinations)
        self.explicit = explicit
        self.routes = routes if routes is not None else RouteTable()
        self.policy = policy
        self.owner = owner
        self.clock = clock
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        # What the host gave, kept apart from the client made from it: `close` closes only ours.
        self._upscale = upscale
        self._client: UpscaleSource | None = None
        self._collect = collect
        self._collect_client: CollectSource | None = None

    def run_due(self, report: RelayReport, *, source: str | None = None, batch_id: str | None = None) -> int:
        """Claim and fan out every due batch (of one source or batch, if given); the number claimed."""
        count = 0
        while (
            claim := self.ledger.claim_batch(
                self.owner, now=self.clock(), lease=self.policy.lease, source=source, batch_id=batch_id
            )
        ) is not None:
            with paused_collection():  # one batch (`msgrelay.relay.collection`)
                self.run_one(claim, report)
            count += 1
        return count

    def run_one(self, claim: BatchClaim, report: RelayReport) -> None:
        """Fan out one claimed batch; a failure is recorded on it (retried later or dead), not raised."""
        try:
            if claim.source == UPSCALE:
                self._fan_out_upscale(claim, report)
            elif claim.source == COLLECT:
                self._fan_out_collect(claim, report)
            else:
                raise ConfigurationError(f"no relay for source {claim.source!r}")
        except GenerationIncompleteError as exc:
            self._reschedule(claim, exc, report)
        except Exception as exc:  # retried later, then dead-lettered; at once if retrying cannot help
            error = describe_error(exc)
            report.batch_failures += 1
            report.note(f"batch {claim.batch_id}: {error}")
            now = self.clock()
            retry_at = self.policy.next_attempt_at(claim.attempts, exc, now=now)
            self.ledger.fail_batch(claim, self.owner, error=error, next_attempt_at=retry_at, now=now)

    def _reschedule(
        self, claim: BatchClaim, incomplete: GenerationIncompleteError, report: RelayReport
    ) -> None:
        """Give an incomplete batch back to be retrieved again after a backoff, or dead-letter it once it
        has been incomplete ``wait_timeout`` seconds since it arrived."""
        now = self.clock()
        batch = self.ledger.get_batch(claim.source, claim.batch_id) or {}
        arrived = float(batch.get("created_at") or now)
        give_up = arrived + self.wait_timeout
        if now >= give_up:
            error = f"generation still not complete {now - arrived:.0f} s after it arrived ({incomplete})"
            report.batch_failures += 1
            report.note(f"batch {claim.batch_id}: {error}")
            self.ledger.fail_batch(
                claim, self.owner, error=error, next_attempt_at=None, now=now, counted=False
            )
            return
        # An incomplete retrieve is a wait, not a failure: it gives back the attempt its claim counted
        # (else a few re-checks would use up the retries a real failure needs), so the wait grows with
        # the batch's age instead: doubling waits from `base` reach age a after about log2(1 + a/base).
        base = self.poll_interval or INCOMPLETE_BACKOFF_BASE
        checks = 1 + int(math.log2(1 + max(now - arrived, 0.0) / base))
        wait = jittered_backoff(checks, base=base, ceiling=INCOMPLETE_BACKOFF_MAX, rng=self.policy.rng)
        # One last look at the deadline itself, so a batch completing just before it is not lost.
        retry_at = min(now + wait, give_up)
        error = f"{incomplete}; retrieved again in {retry_at - now:.3g} s"
        self.ledger.fail_batch(
            claim, self.owner, error=error, next_attempt_at=retry_at, now=now, counted=False
        )

    def close(self) -> None:
        """Close the clients this step made (not one it was given, nor one a given factory made)."""
        client, self._client = self._client, None
        if client is not None and self._upscale is None:
            getattr(client, "close", lambda: None)()
        collect, self._collect_client = self._collect_client, None
        if collect is not None and self._collect is None:
            getattr(collect, "close", lambda: None)()

    def upscale_client(self) -> UpscaleSource:
        """The Upscale client, made on first use (shared with the poller)."""
        if self._client is None:
            self._client = _resolve(self._upscale, "retrieve_messages", UpscaleClient)
        return self._client

    def _collect_source(self) -> CollectSource:
        if self._collect_client is None:
            self._collect_client = _resolve(self._collect, "list_messages", CollectClient)
        return self._collect_client

    def _choose(self, claim: BatchClaim, context: RelayContext) -> Choice:
        """The batch's destinations (`msgrelay.relay.route`), each checked to be registered."""
        choice = choose_destinations(
            recorded=claim.destinations,
            explicit=self.destinations if self.explicit else None,
            default=self.destinations,
            context=context,
            plugins=self.plugins,
            routes=self.routes,
        )
        self.plugins.destinations.resolve(choice.destinations)
        return choice

    def _store(
        self,
        claim: BatchClaim,
        context: RelayContext,
        items: Iterable[tuple[str, str]],
        destinations: list[str],
        errors: list[PluginError],
        report: RelayReport,
        skipped: set[str] | None = None,
    ) -> bool:
        """Commit the fan-out (items and outbox rows), then record the hooks' errors; True if new."""
        stored_now = self.ledger.fan_out(
            claim,
            self.owner,
            context=orjson.dumps(context.to_json()).decode(),
            items=items,
            destinations=destinations,
            now=self.clock(),
            skipped=skipped or (),
        )
        self._record_hook_errors(errors, context, report)
        if stored_now:
            report.batches += 1
        return stored_now

    def _retrieve(self, secure_request_id: str) -> RetrieveResult:
        client = self.upscale_client()
        result = client.retrieve_messages(secure_request_id)
        POLLS.labels(outcome="complete" if result.is_complete else "partial").inc()
        if not result.is_complete:
            progress = progress_of(result, secure_request_id)
            raise GenerationIncompleteError(
                f"generation not complete yet ({progress.generated} of {progress.requested} messages)"
            )
        return result

    def _fan_out_upscale(self, claim: BatchClaim, report: RelayReport) -> None:
        sid = claim.batch_id
        if claim.destinations or self.explicit:
            # Checked before the retrieve: a batch for an unknown destination fails without a request.
            self.plugins.destinations.resolve(claim.destinations or self.destinations)
        # Items a previous fan-out stored: their hooks fired then, so they do not fire again.
        stored = self.ledger.stored_items(UPSCALE, sid)
        result = self._retrieve(sid)
        metadata = result.metadata
        unrouted = RelayContext(
            source=UPSCALE,
            batch_id=sid,
            customer_id=result.account.automation_tool_customer_id,
            campaign_id=result.campaign.automation_tool_campaign_id,
            campaign_name=result.campaign.automation_tool_campaign_name,
            message_types=tuple(result.message_types),
            status_message=metadata.status_message,
            failed_messages_reason=metadata.failed_messages_reason,
            requested_message_count=metadata.requested_message_count,
            generated_message_count=metadata.generated_message_count,
            failed_messages_count=metadata.failed_messages_count,
        )
        # Routed now: the customer and campaign are known only once the batch is retrieved.
        choice = self._choose(claim, unrouted)
        dests = choice.destinations
        context = attrs.evolve(unrouted, destinations=tuple(dests))
        errors: list[PluginError] = []
        pm = self.plugins
        if not stored:
            pm.dispatch("on_generation_complete", result, context, subject=f"batch {sid}", errors=errors)
        submission = self.ledger.submission_for_batch(sid)
        joined = join_submitted(complete_messages(result), self.ledger, submission)
        ids = ItemIds()
        skipped: set[str] = set()
        with ItemSpool() as spool:
            # A chunk at a time: a 100,000-lead batch is never held again as leads nor as payloads.
            def fold(part: list[Lead]) -> list[Lead]:
                return pm.transform_leads(part, context, errors=errors)

            for leads in fold_in_chunks(joined, fold):
                chunk = [(ids.next(lead), lead) for lead in leads]
                report.messages += sum(len(_generated(lead)) for _, lead in chunk)
                new = (lead for item_id, lead in chunk if item_id not in stored)
                self._announce(sid, new, context, errors)
                for item_id, lead in chunk:
                    if choice.skip_empty and is_empty(lead):
                        skipped.add(item_id)
                    spool.add(item_id, lead)
            if self._store(claim, context, spool.items(), dests, errors, report, skipped):
                report.leads += spool.count
                report.skipped += len(skipped)

    def _announce(
        self, sid: str, leads: Iterable[Lead], context: RelayContext, errors: list[PluginError]
    ) -> None:
        """``on_message_fetched`` for each generated message of ``leads``."""
        self.plugins.dispatch_many(
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
                for kind, text in _generated(lead)
            ),
            subject=lambda args: f"message {args[0].message_type} of lead {args[0].external_prospect_id}",
            errors=errors,
        )

    def _fan_out_collect(self, claim: BatchClaim, report: RelayReport) -> None:
        request_id = claim.batch_id
        dests = self._choose(claim, RelayContext(source=COLLECT, batch_id=request_id)).destinations
        # Messages a previous run stored: their hooks fired then, so only new messages fire now.
        stored = self.ledger.stored_items(COLLECT, request_id)
        messages = list(self._collect_source().list_messages(request_id))
        context = RelayContext(source=COLLECT, batch_id=request_id, destinations=tuple(dests))
        item_ids = [str(getattr(m, "id", None) or f"message-{i}") for i, m in enumerate(messages)]
        errors: list[PluginError] = []
        self.plugins.dispatch_many(
            "on_message_fetched",
            (
                (message, None, context)
                for message, item_id in zip(messages, item_ids, strict=True)
                if item_id not in stored
            ),
            subject=lambda args: f"message {getattr(args[0], 'id', None)} of request {request_id}",
            errors=errors,
        )
        items = [
            (item_id, orjson.dumps(encode_collect(m), default=str).decode())
            for item_id, m in zip(item_ids, messages, strict=True)
        ]
        if self._store(claim, context, items, dests, errors, report):
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


def _generated(lead: Lead) -> list[tuple[str, str]]:
    """The lead's generated messages, ``(message_type, text)``, in order."""
    return [(kind, text) for kind, text in lead.messages.items() if text is not None]


def _resolve(source: Any, method: str, default: Callable[[], Any]) -> Any:
    """A client from what the host gave: nothing (the default client), a client, or a factory."""
    if source is None:
        return default()
    if hasattr(source, method):
        return source
    return source()
