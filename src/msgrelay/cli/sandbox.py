"""``msgrelay sandbox``: serve the emulated Upscale Outreach and Collect APIs on this machine."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from msgrelay.cli._common import (
    EXIT_OK,
    non_negative_float,
    non_negative_int,
    port,
    print_json,
    say,
    sigterm_as_interrupt,
)
from msgrelay.sandbox import Sandbox

DEFAULT_PORT = 8800


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``sandbox`` command."""
    parser = commands.add_parser(
        "sandbox",
        help="serve an emulator of both vendor APIs (no account needed)",
        description="Serve the Upscale Outreach and Collect emulators until interrupted. Prints their base "
        "URLs and keys as JSON on stdout, and the shell exports to use them on stderr. Stops cleanly on "
        "Ctrl+C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"port, 0-65535 (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--seconds-per-message",
        type=non_negative_float,
        default=0.05,
        metavar="S",
        help="generation time per message, to watch 202 turn into 200 (default 0.05)",
    )
    parser.add_argument(
        "--credits",
        type=non_negative_int,
        default=10_000,
        help="the Upscale account's allowance (default 10000)",
    )
    parser.add_argument("--no-webhooks", action="store_true", help="do not POST completion webhooks")
    parser.set_defaults(handler=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl+C or SIGTERM)."""
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        seconds_per_message=args.seconds_per_message,
        credits=args.credits,
        webhook_delivery=not args.no_webhooks,
    )
    # Installed before the URLs are printed: whoever reads them may stop the sandbox at once, so the
    # interrupt may land in a print as well as in the wait; either way the sandbox stops cleanly.
    with sigterm_as_interrupt():
        try:
            with sandbox:
                print_json(
                    {
                        "url": sandbox.url,
                        "upscale_base_url": sandbox.upscale_url,
                        "upscale_api_key": sandbox.upscale_api_key,
                        "collect_base_url": sandbox.collect_url,
                        "collect_api_key": sandbox.collect_api_key,
                    }
                )
                say(_banner(sandbox))
                threading.Event().wait()
        except KeyboardInterrupt:
            say("msgrelay sandbox: stopped")
    return EXIT_OK


def _banner(sandbox: Sandbox) -> str:
    """What a person reads on stderr: where the sandbox is and how to point the clients at it."""
    return (
        f"msgrelay sandbox on {sandbox.url}; in another shell:\n"
        f"  export UPSCALE_BASE_URL={sandbox.upscale_url} UPSCALE_API_KEY={sandbox.upscale_api_key}\n"
        f"  export COLLECT_BASE_URL={sandbox.collect_url} COLLECT_API_KEY={sandbox.collect_api_key}\n"
        "Press Ctrl+C to stop."
    )
