"""What the platform examples run against: ``serve`` on the sandbox, and a catch hook standing in for
the platform's webhook trigger (Zapier's Catch Hook, n8n's Webhook node), fed by the webhook plugin."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import msgrelay_webhook
import orjson
import pytest

from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Sandbox
from msgrelay.web.routing import Request, Response, Router, read_request, write_response
from msgrelay.web.server import BackgroundServer
from tests.serving import Served, serving

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(relative: str) -> ModuleType:
    """Import an example script by its path, as the platform would run it."""
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@attrs.define
class CatchHook:
    """A platform's webhook trigger: records each JSON body POSTed to its path."""

    path: str
    url: str = ""
    bodies: list[Any] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def catch(self, request: Request) -> Response:
        with self._lock:
            self.bodies.append(orjson.loads(request.body))
        return Response(200, {"status": "success"})


@pytest.fixture
def catch_hook() -> Iterator[CatchHook]:
    """A catch hook at ``/hooks/catch`` on a free port (the n8n test moves it to its node's path)."""
    hook = CatchHook("/hooks/catch")
    router = Router()
    router.add("POST", "/{rest}", hook.catch)
    router.add("POST", "/{a}/{b}", lambda request, a, b: hook.catch(request))
    router.add("POST", "/{a}/{b}/{c}", lambda request, a, b, c: hook.catch(request))

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return write_response(router.dispatch(read_request(environ)), start_response)

    with BackgroundServer(app) as server:
        hook.url = server.url
        yield hook


@pytest.fixture
def served_with_hook(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    msgrelay_plugins: PluginManager,
    catch_hook: CatchHook,
) -> Iterator[Served]:
    """``serve`` delivering to the store and, through the webhook plugin, to the catch hook."""
    monkeypatch.setenv("MSGRELAY_WEBHOOK_URL", catch_hook.url + catch_hook.path)
    monkeypatch.setenv("MSGRELAY_WEBHOOK_ALLOW_INSECURE", "1")  # the catch hook is on http://127.0.0.1
    msgrelay_plugins.register(msgrelay_webhook, name="webhook")
    try:
        with serving(monkeypatch, sandbox, msgrelay_plugins, destinations=("store", "webhook")) as served:
            monkeypatch.setenv("MSGRELAY_URL", served.url)
            monkeypatch.setenv("MSGRELAY_API_TOKEN", str(served.token))
            monkeypatch.setenv("MSGRELAY_NOTIFY_URL", served.notify_url)
            yield served
    finally:
        msgrelay_plugins.unregister(name="webhook")
