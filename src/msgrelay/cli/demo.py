"""``msgrelay demo``: the whole flow on loopback, with no account.

sandbox → generate → completion webhook → receiver → relay → built-in store; then the delivered
messages (one JSON line each) and a summary.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import textwrap
from collections.abc import Iterable
from typing import Any, TextIO

from msgrelay.cli._common import EXIT_OK, non_negative_float, print_json
from msgrelay.demo_flow import run_full_demo
from msgrelay.store import Store


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
    out.flush()


def cmd_demo(args: argparse.Namespace) -> int:
    summary = run_full_demo(seconds_per_message=args.seconds_per_message, out=io.StringIO())
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
