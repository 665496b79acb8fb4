"""``msgrelay collect``: list, get, create, update and delete the messages of a Collect request.

Every command prints JSON with the API's wire names on stdout (``requests`` prints JSON Lines, one
request per line, as the pages arrive).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from msgrelay.cli._common import (
    EXIT_API,
    EXIT_OK,
    UsageError,
    add_subcommands,
    positive_float,
    print_json,
    print_jsonl,
    whole_number,
)
from msgrelay.collect.client import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, CollectClient
from msgrelay.collect.convert import encode
from msgrelay.collect.drafts import MessageChanges, new_message
from msgrelay.collect.models import KNOWN_CHANNELS
from msgrelay.collect.validation import UNSET, Unset

STDIN = "-"


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``collect`` command group."""
    connection = argparse.ArgumentParser(add_help=False)
    _connection_options(connection, default=argparse.SUPPRESS)
    group = commands.add_parser(
        "collect",
        help="Collect: the messages of a request on every channel (internal, email, SMS)",
        description="Call the Collect API. Key and base URL come from --api-key/--base-url (before or after "
        "the command) or COLLECT_API_KEY/COLLECT_BASE_URL. Output is JSON with the API's wire names.",
    )
    _connection_options(group, default=None)
    sub = add_subcommands(group, title="collect commands")

    listing = sub.add_parser(
        "list",
        parents=[connection],
        help="list a request's messages, newest first",
        description="Print the request's messages as a JSON array, newest first, as the API returns them.",
    )
    listing.add_argument("request_id", metavar="REQUEST_ID", help="the request's id")
    listing.add_argument("--channel", metavar="C", help="only this channel: internal, email or sms")
    listing.set_defaults(handler=cmd_list)

    get = sub.add_parser(
        "get",
        parents=[connection],
        help="print one message, whatever its channel",
        description="Print one message of the request as JSON. An unknown id exits 1 naming the 404.",
    )
    get.add_argument("request_id", metavar="REQUEST_ID", help="the request's id")
    get.add_argument("message_id", metavar="MESSAGE_ID", help="the message's id")
    get.set_defaults(handler=cmd_get)

    create = sub.add_parser(
        "create",
        parents=[connection],
        help="add a message to a request: an internal note, or an email or SMS to its contact",
        description="Rules, checked before anything is sent: internal needs --title (--text optional); "
        "email needs --title (10+ characters) and --body (20+); sms needs --body (20+) and takes no "
        "title. Prints the created message.",
    )
    create.add_argument("request_id", metavar="REQUEST_ID", help="the request's id")
    create.add_argument("--channel", required=True, choices=KNOWN_CHANNELS, help="the message's channel")
    create.add_argument("--title", help="title (internal) or subject (email)")
    content = create.add_mutually_exclusive_group()
    content.add_argument("--text", help="markdown text of an internal message ('-' reads stdin)")
    content.add_argument("--body", help="body of an email or SMS ('-' reads stdin)")
    create.add_argument(
        "--send-on", metavar="TIME", help="email/SMS: when to send, ISO 8601 UTC (2026-02-06T10:00:00Z)"
    )
    create.set_defaults(handler=cmd_create)

    update = sub.add_parser(
        "update",
        parents=[connection],
        help="change some fields of a message; the others stay as they are",
        description="Only the options given are sent. --clear-text sets the text of an internal message to "
        "null. Prints the updated message.",
    )
    update.add_argument("request_id", metavar="REQUEST_ID", help="the request's id")
    update.add_argument("message_id", metavar="MESSAGE_ID", help="the message's id")
    update.add_argument("--title", help="new title (internal) or subject (email, 10+ characters)")
    text = update.add_mutually_exclusive_group()
    text.add_argument("--text", help="new markdown text of an internal message ('-' reads stdin)")
    text.add_argument("--clear-text", action="store_true", help="remove the text of an internal message")
    update.add_argument("--body", help="new body of an email or SMS, 20+ characters ('-' reads stdin)")
    update.add_argument("--send-on", metavar="TIME", help="email/SMS: new sending time, ISO 8601 UTC")
    update.add_argument(
        "--channel",
        choices=KNOWN_CHANNELS,
        help="the message's channel, if known, to check its rules before sending (else the API checks)",
    )
    update.set_defaults(handler=cmd_update)

    delete = sub.add_parser(
        "delete",
        parents=[connection],
        help="delete a message of a request",
        description='Delete the message and print the API\'s answer, {"deleted": true}.',
    )
    delete.add_argument("request_id", metavar="REQUEST_ID", help="the request's id")
    delete.add_argument("message_id", metavar="MESSAGE_ID", help="the message's id")
    delete.set_defaults(handler=cmd_delete)

    requests = sub.add_parser(
        "requests",
        parents=[connection],
        help="list a campaign's requests, to find the ones to work on (JSON Lines)",
        description="Print one JSON line per request of the campaign, fetching page after page. Without "
        "--status the API leaves out cancelled, archived and draft requests.",
    )
    requests.add_argument("campaign_id", metavar="CAMPAIGN_ID", help="the campaign's id")
    requests.add_argument(
        "--status", help="only requests with this status (pending, completed, due, waiting...)"
    )
    requests.add_argument(
        "--page-size",
        type=whole_number(minimum=1, maximum=MAX_PAGE_SIZE),
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"requests per API call, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
    )
    requests.set_defaults(handler=cmd_requests)


def _connection_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    # On the group and on each command: SUPPRESS keeps a command's unset option from hiding the group's.
    parser.add_argument(
        "--api-key",
        default=default,
        help="API key (default: $COLLECT_API_KEY; prefer the variable: others can read a command line)",
    )
    parser.add_argument(
        "--base-url", default=default, help="API root (default: $COLLECT_BASE_URL, else the vendor's)"
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


def client_from(args: argparse.Namespace) -> CollectClient:
    """A `CollectClient` from the options (falling back to the environment)."""
    timeout = None if args.http_timeout is None else (5.0, args.http_timeout)
    return CollectClient(api_key=args.api_key, base_url=args.base_url, timeout=timeout)


def _content(value: str | None) -> str | None:
    return sys.stdin.read() if value == STDIN else value


def cmd_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_json(encode(client.list_messages(args.request_id, channel=args.channel)))
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_json(encode(client.get_message(args.request_id, args.message_id)))
    return EXIT_OK


def cmd_create(args: argparse.Namespace) -> int:
    draft = new_message(
        args.channel,
        title=args.title,
        text=_content(args.text),
        body=_content(args.body),
        send_on=args.send_on,
    )
    with client_from(args) as client:
        print_json(encode(client.create_message(args.request_id, draft)))
    return EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    text: str | Unset | None = UNSET
    if args.clear_text:
        text = None
    elif args.text is not None:
        text = _content(args.text)
    title: str | Unset = UNSET if args.title is None else args.title
    body: str | Unset = UNSET if args.body is None else _content(args.body) or ""
    send_on: str | Unset = UNSET if args.send_on is None else args.send_on
    if all(value is UNSET for value in (title, text, body, send_on)):
        raise UsageError("nothing to change: give --title, --text, --clear-text, --body or --send-on")
    changes = MessageChanges(title=title, text=text, body=body, send_on=send_on)
    with client_from(args) as client:
        print_json(
            encode(client.update_message(args.request_id, args.message_id, changes, channel=args.channel))
        )
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        deleted = client.delete_message(args.request_id, args.message_id)
    print_json({"deleted": deleted})
    if not deleted:
        print(
            f"msgrelay: error: the API answered deleted=false for message {args.message_id} "
            f"of request {args.request_id}",
            file=sys.stderr,
        )
        return EXIT_API
    return EXIT_OK


def cmd_requests(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_jsonl(
            encode(r)
            for r in client.list_requests(args.campaign_id, status=args.status, page_size=args.page_size)
        )
    return EXIT_OK
