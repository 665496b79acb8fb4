"""``msgrelay demo``: the whole flow on loopback, with no account.

sandbox → generate → completion webhook → receiver → relay → built-in store; then the delivered
messages (one JSON line each) and a summary.

Everything runs in this process on 127.0.0.1: the sandbox emulates Upscale (and sends the completion
webhook), the receiver stores it and answers, the relay worker retrieves the batch and delivers each
lead to the built-in store. Progress goes to stderr; the summary (JSON) to stdout. Each run gets its
own folder (ledger and store) under ``$MSGRELAY_HOME/demo/``.
"""

from __future__ import annotations

import argparse
import io
import secrets
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from msgrelay.cli._common import EXIT_OK, comma_list, non_negative_float, print_json
from msgrelay.cli._emulators import vendor_emulators
from msgrelay.config import msgrelay_home
from msgrelay.destinations import DEFAULT_DESTINATION, UPSCALE
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay, RelayWorker, submit_once
from msgrelay.sandbox import Sandbox
from msgrelay.sandbox.samples import DEMO_SEQUENCE, default_request
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.models import GenerationRequest
from msgrelay.web import BackgroundServer, Receiver, notification_url

__all__ = ["DEMO_SEQUENCE", "register", "render", "run_full_demo"]


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` command."""
    parser = commands.add_parser(
        "demo",
        help="run the whole pipeline on this machine, with the sample leads",
        description="Start the sandbox, the webhook receiver and a relay worker in this process; generate "
        "messages for the sample leads shipped with msgrelay; let the completion webhook drive the relay "
        "into the built-in store. Prints each delivered message as a JSON line, then a summary (leads, "
        "messages, delivered, failed, where the store is). Progress goes to stderr.",
    )
    parser.add_argument(
        "--seconds-per-message",
        type=non_negative_float,
        default=0.05,
        metavar="S",
        help="the sandbox's generation time per message (default 0.05)",
    )
    parser.add_argument(
        "--to",
        type=comma_list,
        default=[],
        metavar="NAMES",
        help="also deliver to these destinations (hubspot, lemlist, collect, webhook...): a plugin's vendor "
        "emulator is started for each whose base URL is not set, and what it received is printed",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON lines even on a terminal (the default when piped)"
    )
    parser.set_defaults(handler=cmd_demo)


def render(rows: Iterable[dict[str, Any]], summary: dict[str, Any], out: TextIO, *, width: int = 100) -> None:
    """The delivered messages grouped by lead, then the summary, for a person reading a terminal."""
    lead = None
    for row in rows:
        if row["external_prospect_id"] != lead:
            lead = row["external_prospect_id"]
            out.write(f"\n{lead}  {row['linkedin']}\n")
        text = row["text"] if row["text"] is not None else "(not generated: null from the vendor)"
        lines = textwrap.wrap(
            " ".join(text.split()), width=max(width - 24, 40), break_long_words=False, break_on_hyphens=False
        )
        out.write(f"  {row['message_type']:<20}  " + "\n".join(lines).replace("\n", "\n" + " " * 24) + "\n")
    out.write(
        f"\n{summary['leads']} leads, {summary['messages_generated']} of {summary['messages_requested']} "
        f"messages generated, {summary['delivered']} delivered, {summary['failed']} failed.\n"
        f"Store: {summary['store']}\nExport: {summary['next']}\n"
    )
    for name, records in summary.get("received", {}).items():
        out.write(f"\n{name} received {len(records)} records:\n")
        for record in records:
            out.write(f"  {orjson.dumps(record, default=str).decode()}\n")
    out.flush()


def cmd_demo(args: argparse.Namespace) -> int:
    summary = run_full_demo(seconds_per_message=args.seconds_per_message, to=args.to, out=io.StringIO())
    store = Store(summary["store"])
    try:
        if sys.stdout.isatty() and not args.json:
            render(store.rows(), summary, sys.stdout, width=shutil.get_terminal_size().columns)
            return EXIT_OK
        store.export_jsonl(sys.stdout)
    finally:
        store.close()
    print_json(summary)
    return EXIT_OK


def run_full_demo(
    *,
    request: Callable[[str], GenerationRequest] = default_request,
    seconds_per_message: float = 0.05,
    to: Sequence[str] = (),
    home: Path | None = None,
    timeout: float = 300.0,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """Run the flow once and print the summary; returns it.

    Args:
        request: makes the generation request from the notify URL (default: the sample leads).
        seconds_per_message: the sandbox's generation time per message.
        to: destinations to deliver to besides the store; a plugin's vendor emulator is started for
            each whose base URL is not set, and the summary's ``received`` shows what each one holds.
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
    destinations = list(dict.fromkeys([DEFAULT_DESTINATION, *to]))
    try:
        with (
            Sandbox(seconds_per_message=seconds_per_message) as sandbox,
            vendor_emulators(plugins, destinations, say) as emulators,
        ):
            say(f"sandbox (emulated Upscale Outreach) on {sandbox.url}")
            plugins.destinations.resolve(destinations)

            def relay() -> Relay:
                client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)
                return Relay(
                    ledger=ledger,
                    plugins=plugins,
                    upscale=client,
                    destinations=destinations,
                    poll_interval=0.2,
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
            if emulators:
                summary["received"] = {name: emulator.received() for name, emulator in emulators.items()}
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
