"""The Collect destination: each lead's generated messages written into a Collect request.

`CollectDestination.deliver_many` is what the relay calls. Per batch it:

1. plans every delivery (`compose.plan_delivery`): the request (the lead's ``collect_request_id``,
   else ``MSGRELAY_COLLECT_REQUEST_ID``) and the marked drafts, every Collect rule checked before
   anything is sent (a broken rule fails that lead for good, naming it and the limit);
2. lists each request's messages once (one GET per request per batch) and collects the markers there;
3. creates, one POST per message, only the drafts whose marker is missing.

Step 2 is what makes a retry safe: Collect has no idempotency key, and a POST whose answer was lost
(a timeout, a 5xx from a proxy after Collect stored it) may have created the message. POSTs are never
resent inside a call (msgrelay's client does not resend them); the relay retries the delivery later.
Collect publishes no rate limit: requests go one at a time, and a 429 stops the batch with its
``Retry-After``, which the relay honours before the next attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from msgrelay import CollectClient, Delivery
from msgrelay.destinations import RegisterDestination
from msgrelay_collect._version import __version__
from msgrelay_collect.checks import CheckResult, run_checks
from msgrelay_collect.compose import Plan, markers_in, plan_delivery
from msgrelay_collect.errors import NotSentError, ends_batch, explain
from msgrelay_collect.settings import CollectSettings

__all__ = ["DEFAULT_NAME", "CollectDestination"]

logger = logging.getLogger("msgrelay.collect_destination")

#: The destination name (and type) the plugin registers.
DEFAULT_NAME = "collect"


class CollectDestination:
    """Writes deliveries into Collect requests.

    Args:
        settings: the key, base URL, channel... (`CollectSettings.from_env` / ``from_mapping``).
        clock: seconds since the epoch; email and SMS are scheduled ``send_after`` from it.
        client: a `CollectClient` to use (the destination then does not close it); by default one is
            made from the settings.
        trust_env: whether `requests` reads proxy settings and ``.netrc`` from the environment.
    """

    def __init__(
        self,
        settings: CollectSettings,
        *,
        clock: Callable[[], float] = time.time,
        client: CollectClient | None = None,
        trust_env: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._owns_client = client is None
        self.client = (
            client
            if client is not None
            else CollectClient(
                settings.api_key,
                settings.base_url,
                timeout=settings.timeout,
                user_agent_extra=f"msgrelay-collect/{__version__}",
                trust_env=trust_env,
            )
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> CollectDestination:
        """A destination configured from ``environ`` (default ``os.environ``); ``kwargs`` go to the
        constructor."""
        return cls(CollectSettings.from_env(environ), **kwargs)

    @classmethod
    def from_mapping(
        cls,
        settings: Mapping[str, Any],
        *,
        where: str,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> CollectDestination:
        """A destination for a route instance's settings table (see `CollectSettings.from_mapping`)."""
        return cls(CollectSettings.from_mapping(settings, where=where, environ=environ), **kwargs)

    def __repr__(self) -> str:
        return f"<CollectDestination {self.settings!r}>"

    # --- the destination protocol ----------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Write one delivery; return when every message is in Collect, raise otherwise (retried)."""
        failures = self.deliver_many([delivery])
        if failures:
            raise failures[delivery.key]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """Write each delivery; the failures by delivery key.

        After a failure that concerns Collect itself (a refused key, a 429, a 5xx, a timeout), the
        rest are not tried and fail with `NotSentError`, so a dead API costs one timeout per batch.
        """
        failures: dict[str, BaseException] = {}
        by_request: dict[str, list[Plan]] = {}
        now = self.clock()
        for delivery in deliveries:
            try:
                plan = plan_delivery(delivery, self.settings, now=now)
            except Exception as exc:  # a lead we cannot write fails alone, before anything is sent
                failures[delivery.key] = exc
                continue
            if plan.drafts:
                by_request.setdefault(plan.request_id, []).append(plan)
        stop: BaseException | None = None
        for request_id, plans in by_request.items():
            if stop is not None:
                failures.update((plan.delivery.key, NotSentError(stop)) for plan in plans)
                continue
            try:
                present = markers_in(self.client.list_messages(request_id))
            except Exception as exc:  # the request's leads wait for a retry (or are dead)
                error = self._explain(exc, plans[0])
                failures.update((plan.delivery.key, error) for plan in plans)
                stop = error if ends_batch(error) else None
                continue
            for plan in plans:
                if stop is not None:
                    failures[plan.delivery.key] = NotSentError(stop)
                    continue
                try:
                    self._write(plan, present)
                except Exception as exc:  # retried later; what was written is skipped then
                    error = self._explain(exc, plan)
                    failures[plan.delivery.key] = error
                    stop = error if ends_batch(error) else None
        return failures

    def register_as(self, register: RegisterDestination, name: str = DEFAULT_NAME) -> None:
        """Register this destination under ``name`` (from a ``register_destinations`` hook)."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    def check(self) -> list[CheckResult]:
        """Whether this destination can work: settings, and the key against the default request."""
        return run_checks(self.settings, self.client)

    # --- one delivery ----------------------------------------------------------------------------
    def _write(self, plan: Plan, present: set[str]) -> None:
        for marker, draft in plan.drafts:
            if marker in present:
                logger.debug(
                    "%s already in request %s (delivery %s)", marker, plan.request_id, plan.delivery.key
                )
                continue
            created = self.client.create_message(plan.request_id, draft)
            present.add(marker)
            logger.debug(
                "created %s message %s in request %s (delivery %s, attempt %d)",
                draft.channel,
                created.id,
                plan.request_id,
                plan.delivery.key,
                plan.delivery.attempt,
            )

    def _explain(self, exc: BaseException, plan: Plan) -> BaseException:
        error = explain(
            exc,
            api_key_setting=self.settings.source("api_key"),
            request_id=plan.request_id,
            request_source=plan.request_source,
        )
        # The response holds the request (its headers are scrubbed, but its body is the lead's text).
        if hasattr(error, "response"):
            error.response = None
        return error

    # --- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close pooled connections (only of a client this destination created)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> CollectDestination:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
