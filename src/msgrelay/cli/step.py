"""``msgrelay step NAME``: a low-code step, JSON inputs on stdin, JSON result on stdout.

``--list`` names the steps, ``NAME --schema`` prints the JSON Schema of a step's input and output,
``--format records`` prints one record per lead and ``--format n8n`` n8n's ``[{"json": ...}]`` items.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

import orjson

from msgrelay.cli._common import EXIT_OK, UsageError, print_json
from msgrelay.steps import STEPS, run_step
from msgrelay.web.openapi import step_schema
from msgrelay.web.shapes import SHAPES, shape


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``step`` command."""
    parser = commands.add_parser(
        "step",
        help="run a low-code step: JSON object on stdin, JSON on stdout",
        description="Run one step for a workflow tool (n8n Execute Command, a shell step): read a JSON "
        "object of inputs from stdin (empty means none) and print the result as JSON. Credentials come "
        "as inputs (api_key, base_url) or from the environment. Steps: " + ", ".join(STEPS) + ". "
        "The same steps are served over HTTP by 'msgrelay serve' (POST /v1/steps/NAME).",
        epilog='Example: echo \'{"secure_request_id": "5c0f..."}\' | msgrelay step retrieve --format n8n',
    )
    parser.add_argument(
        "name", nargs="?", choices=sorted(STEPS), metavar="NAME", help="the step: " + ", ".join(STEPS)
    )
    parser.add_argument("--list", action="store_true", help="list the steps with their summaries, as JSON")
    parser.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of the step's input and output"
    )
    parser.add_argument(
        "--format",
        choices=SHAPES,
        default="json",
        help="json (as is, the default), records (one object per lead, for Zapier) or n8n "
        '([{"json": ...}] items)',
    )
    parser.set_defaults(handler=cmd_step)


def cmd_step(args: argparse.Namespace) -> int:
    """Read the inputs, run the step, print the result (or list the steps, or print a schema)."""
    if args.list:
        print_json([{"name": name, "summary": _summary(step)} for name, step in STEPS.items()])
        return EXIT_OK
    if args.name is None:
        raise UsageError("name a step (msgrelay step --list shows them)")
    if args.schema:
        print_json(step_schema(args.name, STEPS[args.name]))
        return EXIT_OK
    raw = sys.stdin.read().strip()
    try:
        inputs = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"stdin is not JSON: {exc}") from None
    if not isinstance(inputs, dict):
        raise UsageError(f"stdin must hold a JSON object of inputs, got {type(inputs).__name__}")
    print_json(shape(run_step(args.name, inputs), args.format))
    return EXIT_OK


def _summary(step: Any) -> str:
    return (inspect.getdoc(step) or "").partition("\n")[0]
