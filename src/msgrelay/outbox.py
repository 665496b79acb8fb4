"""The relay's second half: due outbox rows → destinations → delivered, retried or dead-lettered.

::

    claim outbox rows → deliver (batched per destination) → delivered | retry with backoff | dead letter

Each round claims up to ``batch_size`` due rows, groups them by destination and hands each group to
the destination's ``deliver_batch``; outcomes are recorded per destination, so a slow destination
does not hold back what the others finished. `OutboxStep` is mixed into `msgrelay.relay.Relay`,
whose attributes it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from msgrelay._dispatch import describe_error
from msgrelay.delivery import UPSCALE, Delivery, RelayContext
from msgrelay.destinations import Destination
from msgrelay.errors import ConfigurationError
from msgrelay.failures import is_permanent, server_wait
from msgrelay.ledger.base import DeliveryClaim, Failure, Ledger
from msgrelay.plugins import PluginManager
from msgrelay.upscale.convert import structure_lead

if TYPE_CHECKING:  # `Relay` mixes this class in, so `msgrelay.relay` imports this module
    from msgrelay.relay import DeliveryPolicy, RelayReport

__all__ = ["OutboxStep"]


class OutboxStep:
    """Deliver due outbox rows: the second half of `msgrelay.relay.Relay`, mixed into it."""

    # Set by `Relay.__init__`; read at each use, so a change to the relay applies at once.
    ledger: Ledger
    plugins: PluginManager
    policy: DeliveryPolicy
    batch_size: int
    clock: Callable[[], float]
    owner: str

    def _deliver_due(self, report: RelayReport, *, source: str | None, batch_id: str | None) -> int:
        count = 0
        while rounds := self._deliver_round(report, source=source, batch_id=batch_id):
            count += rounds
        return count

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
