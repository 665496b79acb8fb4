"""What ``msgrelay serve`` answers: the receiver, the steps API, the console and the metrics, by path.

=========================== ======================================================================
``POST /webhooks/upscale``  the completion webhook (`msgrelay.web.receiver`)
``GET /healthz``            200 when the ledger can be read
``POST /v1/steps/{name}``   the low-code steps (`msgrelay.web.steps_api`), bearer token
``GET /v1/openapi.json``    their OpenAPI 3.1 document
``GET /``, ``POST /retry``  the operator console (`msgrelay.web.console`)
``GET /metrics``            Prometheus metrics (`msgrelay.web.metrics`)
=========================== ======================================================================

The steps API and the console are asked first whether a request may go on (`StepsApi.admit`,
`Console.admit`: the token, the session) and only then is its body read, up to their ``max_body``; the
receiver reads its own, up to 64 KB. Steps get all but `RESERVED_THREADS` of the server's threads
(`step_slots`), so a long step never leaves a webhook unanswered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from msgrelay.config import MSGRELAY_API_TOKEN, read_env
from msgrelay.ledger.base import Ledger
from msgrelay.web.console import Console, known_secrets
from msgrelay.web.metrics import METRICS_PATH, metrics_app
from msgrelay.web.openapi import StepFunction
from msgrelay.web.receiver import HEALTH_PATH, UPSCALE_WEBHOOK_PATH, Receiver, TokenVerifier
from msgrelay.web.routing import BodyTooLargeError, read_body, read_head, write_response
from msgrelay.web.steps_api import OPENAPI_PATH, STEPS_PREFIX, StepRunner, StepsApi, too_large

__all__ = ["RESERVED_THREADS", "ServeApp", "step_slots"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Server threads never given to steps: the webhook receiver, /healthz, the console and /metrics.
RESERVED_THREADS = 2


def step_slots(threads: int) -> int:
    """How many steps may run at once on a server with ``threads`` threads (0: too few for steps)."""
    return max(threads - RESERVED_THREADS, 0)


class ServeApp:
    """The WSGI app of ``msgrelay serve``.

    Args:
        ledger: the ledger the receiver stores into and the console and metrics read.
        receiver: the webhook receiver.
        steps: the steps by name (``msgrelay.steps.STEPS``); None serves no steps API.
        run: runs a step by name (``msgrelay.steps.run_step``).
        token: the bearer token of the steps API and the console; default ``MSGRELAY_API_TOKEN``.
            Without one both are off (they answer how to turn them on).
        on_retry: ``(source, batch_id)`` to nudge the relay after the console revives a dead letter.
        threads: the serving threads (``serve --threads``); steps run on at most `step_slots` of them.
        public_url: the base URL the OpenAPI document advertises (``serve --public-url``); else ``/``.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        receiver: Receiver,
        steps: Mapping[str, StepFunction] | None = None,
        run: StepRunner | None = None,
        token: str | None = None,
        on_retry: Callable[[str, str], None] | None = None,
        threads: int = 8,
        public_url: str | None = None,
    ) -> None:
        token = token or read_env(MSGRELAY_API_TOKEN)
        self.receiver = receiver
        self.steps_api = (
            StepsApi(steps, run, token=token, slots=step_slots(threads), public_url=public_url)
            if steps is not None and run is not None
            else None
        )
        hook_secret = receiver.verify.secret if isinstance(receiver.verify, TokenVerifier) else None
        secrets = known_secrets(token, hook_secret)
        self.console = Console(ledger, token=token, on_retry=on_retry, secrets=secrets)
        self.metrics: WsgiApp = metrics_app(ledger)

    def __repr__(self) -> str:
        return f"ServeApp(receiver={self.receiver!r}, steps={self.steps_api!r}, console={self.console!r})"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in (UPSCALE_WEBHOOK_PATH, HEALTH_PATH):
            return self.receiver(environ, start_response)
        if path == METRICS_PATH:
            return self.metrics(environ, start_response)
        surface: StepsApi | Console = self.console
        if self.steps_api is not None and (path.startswith(STEPS_PREFIX) or path == OPENAPI_PATH):
            surface = self.steps_api
        request = read_head(environ)
        # Who is asking is known from the headers; an unauthorised body is never read.
        response = surface.admit(request)
        if response is None:
            try:
                request = attrs.evolve(request, body=read_body(environ, limit=surface.max_body))
            except BodyTooLargeError as exc:
                response = too_large(exc.limit)
            else:
                response = surface.router.dispatch(request)
        return write_response(response, start_response)
