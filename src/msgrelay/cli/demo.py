"""``msgrelay demo``: the whole flow on loopback, with no account.

sandbox → generate → completion webhook → receiver → relay → built-in store; then the delivered
messages (one JSON line each) and a summary.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from msgrelay.cli._common import EXIT_OK, print_json
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
        type=float,
        default=0.05,
        metavar="S",
        help="the sandbox's generation time per message (default 0.05)",
    )
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    summary = run_full_demo(seconds_per_message=args.seconds_per_message, out=io.StringIO())
    store = Store(summary["store"])
    try:
        store.export_jsonl(sys.stdout)
    finally:
        store.close()
    print_json(summary)
    return EXIT_OK
