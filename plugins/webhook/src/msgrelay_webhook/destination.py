"""The webhook destination: one signed POST per lead, no redirects, every failure a msgrelay error.

`WebhookDestination.deliver` is what the relay calls. It builds the envelope (`payload`), serialises it
once, signs those bytes (`signing`), and POSTs them with::

    Content-Type: application/json
    webhook-id: <delivery key>              the same on every retry: receivers drop repeats by it
    webhook-timestamp: <unix seconds>       this attempt's time, from the injected clock
    webhook-signature: v1,<base64>          when a signing secret is configured
    <static headers>                        when configured

It returns on a 2xx answer and raises otherwise (see `errors` for the mapping), so the relay retries
later. There are no retries inside a call: the relay owns the schedule.

`WebhookDestination.deliver_many` is what the relay calls with a batch: up to ``concurrency`` requests
in flight at once (``MSGRELAY_WEBHOOK_CONCURRENCY``, default 8), over one pooled session
(`msgrelay_webhook.session`), on threads that live as long as the destination
(`msgrelay_webhook.sending`). Deliveries of the same lead or person are sent one after the other, in
the relay's order (`msgrelay_webhook.lanes`); each request is signed with its own timestamp.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import requests

from msgrelay import Delivery
from msgrelay.destinations import RegisterDestination
from msgrelay.errors import ApiError, NotFoundError, Problem, ValidationError
from msgrelay.transport import (
    error_for_response,
    map_request_exception,
    redact_text,
    user_agent,
    vendor_message,
)
from msgrelay_webhook._version import __version__
from msgrelay_webhook.config import MSGRELAY_WEBHOOK_URL, WebhookConfig
from msgrelay_webhook.errors import EndpointGoneError, ReceiverTimeoutError, RedirectRefusedError
from msgrelay_webhook.lanes import lanes
from msgrelay_webhook.payload import build_payload, encode_body
from msgrelay_webhook.sending import LanePool
from msgrelay_webhook.session import EndpointSession
from msgrelay_webhook.signing import WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, signature_header
from msgrelay_webhook.urls import check_public, safe_url

__all__ = ["DEFAULT_NAME", "WebhookDestination"]

logger = logging.getLogger("msgrelay.webhook")

#: The destination name the plugin registers.
DEFAULT_NAME = "webhook"
_METHOD = "POST"


class WebhookDestination:
    """POSTs each delivery to one URL, signed with Standard Webhooks headers.

    Args:
        config: where and how (`WebhookConfig`; `from_env` reads it from the environment).
        clock: seconds since the epoch, read once per attempt (``webhook-timestamp``).
        session: a `requests.Session` to use (the destination then does not close it). Every sending
            thread shares it, so give it an adapter whose pool holds ``config.concurrency`` connections.
        trust_env: whether `requests` reads proxy settings and a CA bundle from the environment (once,
            here).
        user_agent_extra: appended to the User-Agent (your app's ``name/version``).

    The threads that send a batch are started on its first batch and ended by `close` (or leaving a
    ``with`` block); a destination used again after `close` starts new ones.
    """

    def __init__(
        self,
        config: WebhookConfig,
        *,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        trust_env: bool = True,
        user_agent_extra: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._safe_url = safe_url(config.url)
        agent = f"msgrelay-webhook/{__version__}" + (f" {user_agent_extra}" if user_agent_extra else "")
        self._endpoint = EndpointSession(
            config.url,
            timeout=config.timeout,
            connections=config.concurrency,
            session=session,
            trust_env=trust_env,
            user_agent=user_agent(agent),
        )
        self._senders = LanePool(config.concurrency)

    @property
    def session(self) -> requests.Session:
        """The `requests.Session` every request goes through."""
        return self._endpoint.session

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> WebhookDestination:
        """A destination configured from ``environ`` (default ``os.environ``; see `WebhookConfig.from_env`);
        ``kwargs`` go to the constructor."""
        return cls(WebhookConfig.from_env(environ), **kwargs)

    def __repr__(self) -> str:
        return f"<WebhookDestination {self._safe_url}>"

    # --- the destination protocol ----------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """POST one delivery; return on 2xx, raise a msgrelay error otherwise (the relay retries)."""
        now = self.clock()
        body = encode_body(build_payload(delivery, now=now))
        if len(body) > self.config.max_body_bytes:
            raise ValidationError(
                Problem("body", f"{len(body)} bytes, over the limit of {self.config.max_body_bytes}"),
                subject=f"webhook payload of {delivery.key}",
            )
        check_public(self.config.url, allow_insecure=self.config.allow_insecure)
        headers = self.headers(delivery.key, timestamp=int(now), body=body)
        try:
            response = self._endpoint.post(body, headers)
        except requests.RequestException as exc:
            error = map_request_exception(exc, method=_METHOD, url=self._safe_url)
            logger.debug("POST %s failed (webhook-id %s): %s", self._safe_url, delivery.key, error)
            raise error from None
        with closing(response):
            status = response.status_code
            logger.debug(
                "POST %s -> %d (webhook-id %s, attempt %d)",
                self._safe_url,
                status,
                delivery.key,
                delivery.attempt,
            )
            if 200 <= status < 300:
                return
            raise self._error(response)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """`deliver` each, up to ``config.concurrency`` at once; the failures by delivery key, in the
        order of ``deliveries``.

        Per-key order: deliveries that share a delivery key, or are about the same lead or person
        (the same ``external_prospect_id``, e-mail or LinkedIn URL: `msgrelay_webhook.lanes`), are
        sent one after the other in the order given, never at once.

        After a failure that concerns the endpoint (it is down, refuses us, or rate-limits us), no
        further request is started: the rest fail with `NotSentError`, so a dead endpoint costs one
        round of timeouts per batch (at most ``concurrency`` requests), not one per lead. A failure of
        one payload (400, 413, an oversized body) fails that delivery alone.
        """
        # One at a time, the batch is one lane: working out who is who would change nothing.
        batch = lanes(deliveries) if self.config.concurrency > 1 else [deliveries]
        failures = self._senders.send(batch, self.deliver)
        return {d.key: failures[d.key] for d in deliveries if d.key in failures}

    def register_as(self, register: RegisterDestination, name: str = DEFAULT_NAME) -> None:
        """Register this destination under ``name`` (from a ``register_destinations`` hook)."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    # --- the request -----------------------------------------------------------------------------
    def headers(self, msg_id: str, *, timestamp: int, body: bytes) -> dict[str, str]:
        """The request headers for one attempt: content type, Standard Webhooks headers, static headers."""
        headers = {
            "Content-Type": "application/json",
            WEBHOOK_ID: msg_id,
            WEBHOOK_TIMESTAMP: str(timestamp),
        }
        if self.config.secrets:
            headers[WEBHOOK_SIGNATURE] = signature_header(
                self.config.secrets, msg_id=msg_id, timestamp=timestamp, body=body
            )
        headers.update(self.config.headers)
        return headers

    def _error(self, response: requests.Response) -> ApiError:
        status = response.status_code
        said = redact_text(vendor_message(response), self.config.secret_texts)
        fields: dict[str, Any] = {"status": status, "method": _METHOD, "url": self._safe_url}
        error: ApiError
        if 300 <= status < 400:
            location = response.headers.get("Location")
            target = f" to {safe_url(urljoin(self.config.url, location))}" if location else ""
            error = RedirectRefusedError(
                **fields,
                vendor_message=f"the endpoint redirects{target}; redirects are not followed, "
                f"set {MSGRELAY_WEBHOOK_URL} to the final URL",
            )
        elif status == 408:
            error = ReceiverTimeoutError(**fields, vendor_message=said)
        elif status == 410:
            error = EndpointGoneError(
                **fields,
                vendor_message=_joined(said, "the receiver retired this endpoint: configure a new URL"),
            )
        else:
            error = error_for_response(
                response, method=_METHOD, url=self._safe_url, secrets=self.config.secret_texts
            )
            if isinstance(error, NotFoundError) and "webhook" in said.lower():
                error = NotFoundError(
                    **fields,
                    vendor_message=_joined(
                        said,
                        "an n8n test URL answers only while its editor is listening; use the production URL",
                    ),
                )
        # The response holds the request, and so the static headers and the URL: do not keep it.
        error.response = None
        return error

    # --- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """End the sending threads (without waiting for a batch in progress), then close the pooled
        connections (only of a session this destination created)."""
        self._senders.close()
        self._endpoint.close()

    def __enter__(self) -> WebhookDestination:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _joined(said: str, hint: str) -> str:
    return f"{said} ({hint})" if said else hint
