"""``msgrelay upscale``: generate, retrieve, wait, credits, sequences."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from msgrelay.cli._common import EXIT_OK, add_subcommands, comma_list, positive_float, print_json, print_jsonl
from msgrelay.cli._progress import ProgressBar
from msgrelay.errors import ValidationError
from msgrelay.ledger import Submission
from msgrelay.relay.submit import submit_once
from msgrelay.upscale import convert
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import REQUIRED_COLUMNS, load_leads
from msgrelay.upscale.models import GenerationRequest, MessageStep
from msgrelay.upscale.validation import validate_generation_request

DEFAULT_WAIT = 600.0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``upscale`` command group."""
    connection = argparse.ArgumentParser(add_help=False)
    _connection_options(connection, default=argparse.SUPPRESS)
    group = commands.add_parser(
        "upscale",
        help="Upscale Outreach: generate LinkedIn messages for leads and fetch them",
        description="Call the Upscale Outreach API. Key and base URL come from --api-key/--base-url (before "
        "or after the command) or UPSCALE_API_KEY/UPSCALE_BASE_URL.",
    )
    _connection_options(group, default=None)
    sub = add_subcommands(group, title="upscale commands")

    generate = sub.add_parser(
        "generate",
        parents=[connection],
        help="submit leads for message generation",
        description='Submit leads and a message sequence. Prints {"secure_request_id": ...}; with --wait, '
        "one JSON line per lead once generation completes. Every input problem is reported before "
        "anything is sent. The submission is recorded in the ledger ($MSGRELAY_HOME) before it is sent, "
        "so running the same command again returns the same id instead of paying twice.",
    )
    generate.add_argument(
        "--leads",
        required=True,
        metavar="FILE",
        help="CSV with a header of wire names (required columns: "
        f"{', '.join(REQUIRED_COLUMNS)}; others pass through) or JSON Lines (.jsonl); "
        "'-' reads standard input",
    )
    generate.add_argument(
        "--encoding",
        metavar="NAME",
        help="the leads file's text encoding, e.g. cp1252 or latin-1 (default UTF-8, with or without BOM)",
    )
    generate.add_argument(
        "--delimiter",
        type=_one_character,
        default=",",
        metavar="C",
        help="the CSV separator (default ','; e.g. ';' for a European spreadsheet)",
    )
    generate.add_argument("--customer-id", required=True, help="automation_tool_customer_id")
    generate.add_argument("--campaign-id", required=True, help="automation_tool_campaign_id")
    generate.add_argument("--campaign-name", required=True, help="automation_tool_campaign_name")
    generate.add_argument("--company-name", required=True, help="proposition_company_name")
    generate.add_argument("--company-url", required=True, help="proposition_company_url (http or https)")
    generate.add_argument(
        "--sequence",
        required=True,
        type=comma_list,
        metavar="TYPE,TYPE",
        help="message types in step order, e.g. connection_request,first_follow_up",
    )
    generate.add_argument("--material-link", help="material_link (needed for share_material)")
    generate.add_argument(
        "--hiring-location", help="hiring_location, one country (needed for hiring_activity)"
    )
    generate.add_argument("--signoff-name", help="signoff_name")
    generate.add_argument("--notify-url", required=True, help="completion_notification_url for the webhook")
    generate.add_argument("--wait", action="store_true", help="wait for completion and print the messages")
    generate.add_argument(
        "--force",
        action="store_true",
        help="send a new batch even though a matching submission (same account, customer, campaign, "
        "lead ids and message types) was recorded before: one with other field values, or one with an "
        "unknown outcome (check 'msgrelay upscale credits' first: it may have been charged). Upscale "
        "de-duplicates by lead id and message type, so new messages need new lead ids",
    )
    add_wait_options(generate, prefix="with --wait, ")
    generate.set_defaults(handler=cmd_generate)

    retrieve = sub.add_parser(
        "retrieve",
        parents=[connection],
        help="fetch a batch's messages as they stand (complete or partial)",
        description="Print the retrieve response as JSON with wire names. Exit 0 for 200 (complete) and "
        "202 (partial): check metadata.generation_status.",
    )
    retrieve.add_argument("secure_request_id", metavar="ID")
    retrieve.set_defaults(handler=cmd_retrieve)

    wait = sub.add_parser(
        "wait",
        parents=[connection],
        help="wait until a batch is complete, then print one JSON line per lead",
        description="Poll with growing intervals until complete; "
        "a progress bar on stderr when it is a terminal.",
    )
    wait.add_argument("secure_request_id", metavar="ID")
    add_wait_options(wait)
    wait.set_defaults(handler=cmd_wait)

    credits = sub.add_parser(
        "credits",
        parents=[connection],
        help="the account's allowance, used and remaining credits",
        description="Print message_allowance, credits_used and remaining_credits for this billing period.",
    )
    credits.set_defaults(handler=cmd_credits)

    sequences = sub.add_parser(
        "sequences",
        parents=[connection],
        help="list sequence templates",
        description="With no filter, every template. With any filter, the vendor fills the others with "
        "their defaults (medium, meeting, normal, false).",
    )
    sequences.add_argument(
        "--sequence-length",
        choices=("short", "medium", "long"),
        help="short (1-2 steps), medium (3) or long (4-5)",
    )
    sequences.add_argument(
        "--campaign-objective",
        choices=("brand_awareness", "event_attendance", "meeting"),
        help="what the campaign is for",
    )
    sequences.add_argument(
        "--cadence-profile",
        choices=("rapid", "normal", "long_term"),
        help="rapid (1-2 weeks), normal (2-4 weeks) or long_term (2-3 months)",
    )
    sequences.add_argument(
        "--saturated-markets",
        choices=("true", "false"),
        help="true: the sequence starts with a connection request",
    )
    sequences.set_defaults(handler=cmd_sequences)


def _connection_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    # On the group and on each command: SUPPRESS keeps a command's unset option from hiding the group's.
    parser.add_argument(
        "--api-key",
        default=default,
        help="API key (default: $UPSCALE_API_KEY; prefer the variable: others can read a command line)",
    )
    parser.add_argument(
        "--base-url", default=default, help="API root (default: $UPSCALE_BASE_URL, else the vendor's)"
    )
    parser.add_argument(
        "--http-timeout",
        type=positive_float,
        default=default,
        metavar="S",
        help=(
            "seconds to wait for each HTTP read (default 30); each call, retries included, ends "
            "after 5 + 2 x S seconds"
        ),
    )


def _one_character(value: str) -> str:
    if value in {"\\t", "tab"}:
        return "\t"
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected one character, got {value!r}")
    return value


def add_wait_options(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """``--timeout`` and ``--poll-interval`` for commands that wait for a batch to complete."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_WAIT,
        metavar="S",
        help=f"{prefix}give up after S seconds (default {DEFAULT_WAIT:g})",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_float,
        default=2.0,
        metavar="S",
        help=f"{prefix}the first polling interval; it grows to 30 s (default 2)",
    )


def client_from(args: argparse.Namespace) -> UpscaleClient:
    """An `UpscaleClient` from the group's options (falling back to the environment)."""
    timeout = None if args.http_timeout is None else (5.0, args.http_timeout)
    return UpscaleClient(api_key=args.api_key, base_url=args.base_url, timeout=timeout)


def request_from(args: argparse.Namespace) -> GenerationRequest:
    """The `GenerationRequest` described by ``generate``'s options, checked: each problem of a lead
    names its line in the leads file beside its wire path."""
    leads = load_leads(args.leads, encoding=args.encoding, delimiter=args.delimiter)
    request = GenerationRequest(
        completion_notification_url=args.notify_url,
        automation_tool_customer_id=args.customer_id,
        automation_tool_campaign_id=args.campaign_id,
        automation_tool_campaign_name=args.campaign_name,
        proposition_company_name=args.company_name,
        proposition_company_url=args.company_url,
        message_sequence=[MessageStep(step=i, message_type=t) for i, t in enumerate(args.sequence, start=1)],
        lead_data=leads.leads,
        material_link=args.material_link,
        hiring_location=args.hiring_location,
        signoff_name=args.signoff_name,
    )
    try:
        validate_generation_request(request)
    except ValidationError as exc:
        raise ValidationError(leads.locate(exc.problems), subject=exc.subject, more=exc.more) from None
    return request


def wait_and_print(
    client: UpscaleClient, secure_request_id: str, *, timeout: float, poll_interval: float
) -> int:
    """Wait for completion with a progress bar, then print the lead lines."""
    bar = ProgressBar()
    try:
        result = client.wait_for_completion(
            secure_request_id, timeout=timeout, on_progress=bar, initial_interval=poll_interval
        )
    finally:
        bar.finish()
    print_jsonl(result.lead_summaries())
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    request = request_from(args)
    with client_from(args) as client:
        ticket = submit_once(client, request, force=args.force, on_reuse=_say_reused)
        if not args.wait:
            print_json({"secure_request_id": ticket.secure_request_id})
            return EXIT_OK
        return wait_and_print(
            client, ticket.secure_request_id, timeout=args.timeout, poll_interval=args.poll_interval
        )


def _say_reused(submission: Submission) -> None:
    when = datetime.fromtimestamp(submission.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"msgrelay: reusing submission {submission.secure_request_id} from {when}", file=sys.stderr)


def cmd_retrieve(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_json(convert.unstructure(client.retrieve_messages(args.secure_request_id)))
    return EXIT_OK


def cmd_wait(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        return wait_and_print(
            client, args.secure_request_id, timeout=args.timeout, poll_interval=args.poll_interval
        )


def cmd_credits(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_json(convert.unstructure(client.check_credits()))
    return EXIT_OK


def cmd_sequences(args: argparse.Namespace) -> int:
    saturated = None if args.saturated_markets is None else args.saturated_markets == "true"
    with client_from(args) as client:
        templates = client.get_sequences(
            sequence_length=args.sequence_length,
            campaign_objective=args.campaign_objective,
            cadence_profile=args.cadence_profile,
            saturated_markets=saturated,
        )
    print_json([convert.unstructure(t) for t in templates])
    return EXIT_OK
