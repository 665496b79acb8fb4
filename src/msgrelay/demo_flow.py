"""The whole flow on loopback, for ``msgrelay demo``: sandbox → generate → webhook → receiver → relay → store.

Everything runs in this process on 127.0.0.1 with no account: the sandbox emulates Upscale (and sends
the completion webhook), the receiver stores it and answers, the relay worker retrieves the batch and
delivers each lead to the built-in store. Progress goes to stderr; the summary (JSON) to stdout.
Each run gets its own folder (ledger and store) under ``$MSGRELAY_HOME/demo/``.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import orjson

from msgrelay._server import BackgroundServer
from msgrelay.config import msgrelay_home
from msgrelay.delivery import UPSCALE
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.receiver import Receiver, RelayWorker, notification_url
from msgrelay.relay import Relay
from msgrelay.sandbox import Sandbox
from msgrelay.store import Store
from msgrelay.submissions import submit_once
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import read_leads
from msgrelay.upscale.models import GenerationRequest, MessageStep

__all__ = ["DEMO_SEQUENCE", "default_request", "run_full_demo"]

DEMO_SEQUENCE = ("connection_request", "first_follow_up", "share_material", "hiring_activity")


def default_request(notify_url: str) -> GenerationRequest:
    """The packaged sample leads and four message types, notifying ``notify_url``."""
    leads = read_leads(str(resources.files("msgrelay") / "data" / "sample_leads.csv"))
    return GenerationRequest(
        completion_notification_url=notify_url,
        automation_tool_customer_id="demo-customer",
        automation_tool_campaign_id="demo-campaign",
        automation_tool_campaign_name="msgrelay demo",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        material_link="https://ledgerly.example.com/case-studies/close-in-3-days",
        hiring_location="United Kingdom",
        signoff_name="Priya",
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(DEMO_SEQUENCE, start=1)],
        lead_data=leads,
    )


def run_full_demo(
    *,
    request: Callable[[str], GenerationRequest] = default_request,
    seconds_per_message: float = 0.05,
    home: Path | None = None,
    timeout: float = 300.0,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """Run the flow once and print the summary; returns it.

    Args:
        request: makes the generation request from the notify URL (default: the sample leads).
        seconds_per_message: the sandbox's generation time per message.
        home: the run's folder (default ``$MSGRELAY_HOME/demo/run-<UTC time>``).
        timeout: seconds to wait for the webhook and the relay before giving up.
        out / err: where the summary and the progress go (stdout / stderr).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    folder = home or msgrelay_home() / "demo" / f"run-{stamp}"

    def say(text: str) -> None:
        print(f"msgrelay demo: {text}", file=err, flush=True)

    secret = secrets.token_urlsafe(24)
    ledger = SQLiteLedger(folder / "ledger.sqlite3")
    store = Store(folder / "store.sqlite3")
    plugins = PluginManager().load()
    # The demo's own store, registered under the default name for this manager only.
    plugins.destinations.remove_plugin("msgrelay.store")
    store.register_as(plugins.destinations.registrar("msgrelay.store", say), "store")
    try:
        with Sandbox(seconds_per_message=seconds_per_message) as sandbox:
            say(f"sandbox (emulated Upscale Outreach) on {sandbox.url}")

            def relay() -> Relay:
                client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)
                return Relay(
                    ledger=ledger, plugins=plugins, upscale=client, destinations=["store"], poll_interval=0.2
                )

            with (
                RelayWorker(relay, sweep_interval=1.0) as worker,
                BackgroundServer(Receiver(ledger=ledger, secret=secret, on_event=worker.submit)) as server,
                UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client,
            ):
                say(f"webhook receiver on {server.url}/webhooks/upscale (secret token in the notify URL)")
                generation = request(notification_url(server.url, secret=secret))
                ticket = submit_once(client, generation, ledger=ledger)
                sid = ticket.secure_request_id
                size = f"{len(generation.lead_data)} leads x {len(generation.message_types)} messages"
                say(f"submitted {size}: {sid}")
                _wait(lambda: ledger.get_batch(UPSCALE, sid) is not None, timeout, "the completion webhook")
                say("completion webhook received, stored and acknowledged; relaying in the background")
                _wait(lambda: _settled(ledger, sid), timeout, "the relay")
                say("relayed")
                worker.stop()
            summary = _summary(ledger, store, sid, generation, folder)
    finally:
        ledger.close()
        store.close()
    out.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    out.flush()
    return summary


def _settled(ledger: SQLiteLedger, sid: str) -> bool:
    """Fanned out, and nothing left to deliver now (delivered, or dead-lettered)."""
    if ledger.batch_state(UPSCALE, sid) not in {"fanned_out", "dead"}:
        return False
    counts = ledger.batch_counts(UPSCALE, sid)
    return not counts.get("pending") and not counts.get("claimed")


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.05)


def _summary(
    ledger: SQLiteLedger, store: Store, sid: str, generation: GenerationRequest, folder: Path
) -> dict[str, Any]:
    counts = ledger.batch_counts(UPSCALE, sid)
    stored = store.summary()
    status = ledger.status(dead_sample=3)
    return {
        "secure_request_id": sid,
        "leads": len(generation.lead_data),
        "messages_requested": len(generation.lead_data) * len(generation.message_types),
        "messages_generated": stored["generated"],
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("dead", 0) + counts.get("pending", 0),
        "hook_errors": status["hook_errors"]["count"],
        "store": stored["path"],
        "ledger": str(ledger.path),
        "next": f"MSGRELAY_HOME={folder} msgrelay relay --export csv",
    }
