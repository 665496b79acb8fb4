"""``msgrelay step NAME``: a low-code step, JSON inputs on stdin, JSON result on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from msgrelay.cli._common import EXIT_OK, UsageError, print_json
from msgrelay.steps import STEPS, run_step


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``step`` command."""
    parser = commands.add_parser(
        "step",
        help="run a low-code step: JSON object on stdin, JSON on stdout",
        description="Run one step for a workflow tool (n8n Execute Command, a shell step): read a JSON "
        "object of inputs from stdin (empty means none) and print the result as JSON. Credentials come "
        "as inputs (api_key, base_url) or from the environment. Steps: " + ", ".join(STEPS) + ".",
        epilog='Example: echo \'{"secure_request_id": "5c0f..."}\' | msgrelay step retrieve',
    )
    parser.add_argument("name", choices=sorted(STEPS), metavar="NAME", help="the step: " + ", ".join(STEPS))
    parser.set_defaults(handler=cmd_step)


def cmd_step(args: argparse.Namespace) -> int:
    """Read the inputs, run the step, print the result."""
    raw = sys.stdin.read().strip()
    try:
        inputs = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"stdin is not JSON: {exc}") from None
    if not isinstance(inputs, dict):
        raise UsageError(f"stdin must hold a JSON object of inputs, got {type(inputs).__name__}")
    print_json(run_step(args.name, inputs))
    return EXIT_OK
