"""``msgrelay demo``: the whole flow against an in-process sandbox, with no account."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from typing import Any

from msgrelay.cli._common import EXIT_OK, print_jsonl
from msgrelay.cli._progress import ProgressBar
from msgrelay.cli.upscale import lead_lines
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import read_leads
from msgrelay.upscale.models import GenerationRequest, MessageStep

DEMO_SEQUENCE = ("connection_request", "first_follow_up", "share_material", "hiring_activity")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` command."""
    parser = commands.add_parser(
        "demo",
        help="run the pipeline against a local sandbox, with the sample leads",
        description="Start the sandbox in this process, generate messages for the sample leads shipped "
        "with msgrelay, wait with progress, and print one JSON line per lead.",
    )
    parser.add_argument(
        "--seconds-per-message",
        type=float,
        default=0.05,
        metavar="S",
        help="sandbox generation time per message (default 0.05)",
    )
    parser.set_defaults(handler=cmd_demo)


def sample_leads_path() -> str:
    """Where the packaged sample leads CSV is."""
    return str(resources.files("msgrelay") / "data" / "sample_leads.csv")


def demo_request(notify_url: str) -> GenerationRequest:
    """The demo's generation request: the sample leads and four message types."""
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
        lead_data=read_leads(sample_leads_path()),
    )


def cmd_demo(args: argparse.Namespace) -> int:
    with Sandbox(seconds_per_message=args.seconds_per_message, webhook_delivery=False) as sandbox:
        print(f"sandbox running on {sandbox.url}", file=sys.stderr)
        with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client:
            request = demo_request(f"{sandbox.url}/unused-webhook")
            ticket = client.request_generation(request)
            print(f"submitted {len(request.lead_data)} leads: {ticket.secure_request_id}", file=sys.stderr)
            bar = ProgressBar()
            try:
                result = client.wait_for_completion(
                    ticket.secure_request_id, on_progress=bar, initial_interval=0.1
                )
            finally:
                bar.finish()
        print_jsonl(lead_lines(result))
    return EXIT_OK
