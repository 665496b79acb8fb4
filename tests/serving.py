"""``msgrelay serve`` in a test: the sandbox's keys in the environment, the served app on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import attrs
import pytest

from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import DeliveryPolicy, Relay, RelayWorker
from msgrelay.sandbox import Sandbox
from msgrelay.steps import STEPS, run_step
from msgrelay.web.app import ServeApp
from msgrelay.web.receiver import Receiver, notification_url
from msgrelay.web.server import BackgroundServer

TOKEN = "op-token-0123456789abcdef"
HOOK_SECRET = "hook-secret-0123456789"


@attrs.frozen
class Served:
    """A running serve app: its URL, token, ledger, and the notify URL the sandbox should call."""

    url: str
    token: str | None
    ledger: SQLiteLedger
    sandbox: Sandbox
    app: ServeApp

    @property
    def notify_url(self) -> str:
        return notification_url(self.url, secret=HOOK_SECRET)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def use_sandbox(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    """Point the steps (which read the environment, as a server's do) at the sandbox."""
    monkeypatch.setenv("UPSCALE_API_KEY", sandbox.upscale_api_key)
    monkeypatch.setenv("UPSCALE_BASE_URL", sandbox.upscale_url)
    monkeypatch.setenv("COLLECT_API_KEY", sandbox.collect_api_key)
    monkeypatch.setenv("COLLECT_BASE_URL", sandbox.collect_url)


@contextlib.contextmanager
def serving(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    plugins: PluginManager,
    *,
    token: str | None = TOKEN,
    destinations: Sequence[str] = ("store",),
    max_attempts: int = 8,
) -> Iterator[Served]:
    """What ``msgrelay serve`` runs, wired the same way, with a fast retry policy."""
    use_sandbox(monkeypatch, sandbox)
    ledger = SQLiteLedger()
    worker = RelayWorker(
        lambda: Relay(
            ledger=ledger,
            plugins=plugins,
            destinations=list(destinations),
            # Fast retries, and the default number of them: on a loaded machine a delivery may time out
            # once or twice, and an early dead letter would look like a stall to a test waiting for it.
            policy=DeliveryPolicy(backoff_base=0.01, backoff_max=0.05, max_attempts=max_attempts),
        ),
        sweep_interval=0.2,
    )
    receiver = Receiver(ledger=ledger, secret=HOOK_SECRET, on_event=worker.submit, destinations=destinations)
    app = ServeApp(
        ledger=ledger, receiver=receiver, steps=STEPS, run=run_step, token=token, on_retry=worker.submit
    )
    try:
        with worker, BackgroundServer(app) as server:
            yield Served(server.url, token, ledger, sandbox, app)
    finally:
        ledger.close()
