"""What ``msgrelay serve`` answers: the receiver, the steps API, the console and the metrics, by path.

=========================== ======================================================================
``POST /webhooks/upscale``  the completion webhook (`msgrelay.web.receiver`)
``GET /healthz``            200 when the ledger can be read
``POST /v1/steps/{name}``   the low-code steps (`msgrelay.web.steps_api`), bearer token
``GET /v1/openapi.json``    their OpenAPI 3.1 document
``GET /``, ``POST /retry``  the operator console (`msgrelay.web.console`)
``GET /metrics``            Prometheus metrics (`msgrelay.web.metrics`)
=========================== ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from msgrelay.config import MSGRELAY_API_TOKEN, read_env
from msgrelay.ledger.base import Ledger
from msgrelay.web.console import Console
from msgrelay.web.metrics import METRICS_PATH, metrics_app
from msgrelay.web.openapi import StepFunction
from msgrelay.web.receiver import HEALTH_PATH, UPSCALE_WEBHOOK_PATH, Receiver
from msgrelay.web.routing import read_request, write_response
from msgrelay.web.steps_api import OPENAPI_PATH, STEPS_PREFIX, StepRunner, StepsApi

__all__ = ["ServeApp"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
    ) -> None:
        token = token or read_env(MSGRELAY_API_TOKEN)
        self.receiver = receiver
        self.steps_api = StepsApi(steps, run, token=token) if steps is not None and run is not None else None
        self.console = Console(ledger, token=token, on_retry=on_retry)
        self.metrics: WsgiApp = metrics_app(ledger)

    def __repr__(self) -> str:
        return f"ServeApp(receiver={self.receiver!r}, steps={self.steps_api!r}, console={self.console!r})"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in (UPSCALE_WEBHOOK_PATH, HEALTH_PATH):
            return self.receiver(environ, start_response)
        if path == METRICS_PATH:
            return self.metrics(environ, start_response)
        router = self.console.router
        if self.steps_api is not None and (path.startswith(STEPS_PREFIX) or path == OPENAPI_PATH):
            router = self.steps_api.router
        return write_response(router.dispatch(read_request(environ)), start_response)
