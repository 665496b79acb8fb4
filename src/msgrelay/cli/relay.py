"""``msgrelay relay``: deliver generations to destinations; resume, inspect, re-drive, export, prune."""

from __future__ import annotations

import _thread
import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgrelay.cli._common import (
    EXIT_API,
    EXIT_OK,
    UsageError,
    add_config_option,
    comma_list,
    explicit_destinations,
    install_config,
    non_negative_float,
    positive_int,
    print_json,
)
from msgrelay.cli._retention import prune, retention_days
from msgrelay.config import MSGRELAY_RETENTION_DAYS
from msgrelay.destinations.delivery import COLLECT, UPSCALE
from msgrelay.destinations.store import open_store
from msgrelay.ledger import Ledger, open_ledger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay, RelayReport
from msgrelay.relay.poll import poll_settings
from msgrelay.upscale.validation import validate_secure_request_id

DEFAULT_BATCH_SIZE = 500
#: Seconds since the epoch: what ``--prune`` counts ages from (a test moves it on).
_clock = time.time
#: Seconds a SIGTERM leaves the delivery in progress to finish before the run is abandoned.
STOP_TIMEOUT = 20.0
#: Seconds the run waits at exit for ``deliver`` calls still running past their timeout, before it
#: releases their deliveries for retry rather than wait on a destination that may never answer.
LATE_CALLS_WAIT = 5.0

#: The options each mode uses (argparse attribute → the option as the user spelled it). Any other
#: option given with a mode is refused rather than silently ignored.
_OPTIONS = {
    "to": "--to",
    "collect": "--collect",
    "max_wait": "--max-wait",
    "batch_size": "--batch-size",
    "output": "-o/--output",
    "config": "--config",
    "older_than": "--older-than",
}
_USES = {
    "an ID": {"to", "collect", "max_wait", "batch_size", "config"},
    "--pending": {"max_wait", "batch_size", "config"},
    "--status": set(),
    "--retry-dead": {"to", "max_wait", "batch_size", "config"},
    "--export": {"output"},
    "--prune": {"older_than"},
}


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``relay`` command."""
    parser = commands.add_parser(
        "relay",
        help="deliver generated messages to destinations (default: the built-in store)",
        description="Relay an Upscale generation to destinations through the ledger: retrieve it (waiting "
        "while it is in progress), run the plugins' hooks, and deliver each lead to each destination, "
        "retrying with backoff and dead-lettering what keeps failing. Nothing is delivered twice to the same "
        "destination: each delivery carries a stable key. Prints a JSON report; exits 1 if anything is left "
        "undelivered.",
        epilog="Examples: msgrelay relay 5c0f8a2e-... --to store,hubspot | msgrelay relay --pending | "
        "msgrelay relay --status | msgrelay relay --export csv -o messages.csv | "
        "msgrelay relay --prune --older-than 30",
    )
    parser.add_argument(
        "secure_request_id",
        metavar="ID",
        nargs="?",
        help="the generation's secure_request_id (or, with --collect, a Collect request id)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--pending",
        action="store_true",
        help="resume everything due: webhooks not yet relayed, deliveries not yet made (after a crash too)",
    )
    mode.add_argument(
        "--status",
        action="store_true",
        help="print counts by state, dead letters, hook errors, and submissions waiting for their batch "
        "(with when the background relay of 'msgrelay serve' next polls each)",
    )
    mode.add_argument(
        "--retry-dead",
        action="store_true",
        help="re-drive dead-lettered batches and deliveries, then run them",
    )
    mode.add_argument(
        "--export",
        choices=("jsonl", "csv"),
        help="print the built-in store's messages as JSON Lines or CSV (one row per message)",
    )
    mode.add_argument(
        "--prune",
        action="store_true",
        help="delete what is finished and older than --older-than DAYS (default $MSGRELAY_RETENTION_DAYS): "
        "delivered ledger rows, the stored leads of batches with nothing left to deliver, old hook errors, "
        "and the built-in store's deliveries; never anything pending, claimed or dead",
    )
    parser.add_argument(
        "--older-than",
        type=_days,
        default=None,
        metavar="DAYS",
        help="with --prune: the age in days, more than 0 (fractions allowed)",
    )
    parser.add_argument(
        "--to",
        type=comma_list,
        metavar="NAME,...",
        help="destinations for ID (default: $MSGRELAY_DESTINATIONS, else --config's routes, else 'store'); "
        "with --retry-dead, only these destinations",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="ID is a Collect request id: relay its messages (one delivery per message; run again to "
        "relay only the messages added since)",
    )
    parser.add_argument(
        "--max-wait",
        type=non_negative_float,
        default=None,
        metavar="S",
        help="seconds to keep retrying failed deliveries in this run before leaving them to a later "
        "'relay --pending', 0 or more (default 60 for ID, 0 otherwise)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,  # DEFAULT_BATCH_SIZE; None tells a --batch-size given from one left out
        metavar="N",
        help=f"deliveries claimed together, at least 1 (default {DEFAULT_BATCH_SIZE}); smaller means "
        "less work repeated after a crash, larger means faster",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="with --export: write to this file instead of stdout"
    )
    add_config_option(parser)
    parser.set_defaults(handler=cmd_relay)


def cmd_relay(args: argparse.Namespace) -> int:
    """Dispatch on the mode."""
    modes = [
        name
        for name, chosen in (
            ("--pending", args.pending),
            ("--status", args.status),
            ("--retry-dead", args.retry_dead),
            ("--export", args.export is not None),
            ("--prune", args.prune),
        )
        if chosen
    ]
    if args.secure_request_id is not None and modes:
        raise UsageError("give either an ID or one of --pending, --status, --retry-dead, --export, --prune")
    if args.secure_request_id is None and not modes:
        raise UsageError(
            "give an ID to relay, or one of --pending, --status, --retry-dead, --export, --prune"
        )
    _refuse_unused_options(args, modes[0] if modes else "an ID")
    if args.export:
        return _export(args.export, args.output)
    days = args.older_than
    if args.prune and days is None:
        days = retention_days()
        if days is None:
            raise UsageError(f"--prune needs --older-than DAYS (or {MSGRELAY_RETENTION_DAYS} set)")
    ledger = open_ledger()
    try:
        if args.prune:
            print_json(prune(ledger, open_store(), days=days, now=_clock()))
            return EXIT_OK
        if args.status:
            status = ledger.status()
            status["waiting_submissions"] = _waiting(ledger)
            status["store"] = open_store().summary()
            print_json(status)
            return EXIT_OK
        plugins = PluginManager().load()
        routes = install_config(plugins, args.config)
        # For an ID, --to or the environment's, checked before anything is recorded.
        destinations = (
            explicit_destinations(plugins, args.to, routes=routes)
            if args.secure_request_id is not None
            else args.to
        )
        batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
        relay = Relay(ledger=ledger, plugins=plugins, batch_size=batch_size, routes=routes)
        try:
            with _stop_on_sigterm(relay):
                code = _run(relay, args, destinations)
            return _release_late_calls(relay, code)
        finally:
            relay.close()
            plugins.destinations.close()
    finally:
        ledger.close()


def _release_late_calls(relay: Relay, code: int, wait: float = LATE_CALLS_WAIT) -> int:
    """``code``, or `EXIT_API` when deliveries still running past their timeout ``wait`` s on had to be
    released for retry (the process ends: their outcome could no longer be recorded)."""
    released = relay.deliverer.abandon_late(wait)
    if not released:
        return code
    print(
        f"msgrelay: {released} deliveries still running at exit were released for retry; their "
        "destination may receive them twice, with the same delivery key",
        file=sys.stderr,
    )
    return code if code != EXIT_OK else EXIT_API


@contextlib.contextmanager
def _stop_on_sigterm(relay: Relay, timeout: float = STOP_TIMEOUT) -> Iterator[None]:
    """While inside, SIGTERM stops the relay cleanly (`Relay.stop`): nothing new is claimed, the delivery
    in progress is finished and recorded, the rest released. A delivery still running ``timeout`` s
    later, or a second SIGTERM, interrupts the run (exit 130; its claims are released by the next run).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    restore = previous if previous is not None else signal.SIG_DFL
    timer = threading.Timer(timeout, _thread.interrupt_main)
    timer.daemon = True

    def stop(signum: int, frame: object) -> None:
        if relay.stopping:
            raise KeyboardInterrupt
        relay.stop()
        timer.start()

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, restore)


def _waiting(ledger: Ledger) -> list[dict[str, Any]]:
    """Submissions whose batch has not arrived, and when the background relay next polls each."""
    poll_after, _ = poll_settings()
    return [
        {
            "secure_request_id": s.secure_request_id,
            "customer_id": s.customer_id,
            "campaign_id": s.campaign_id,
            "submitted_at": _iso(s.created_at),
            "polls": s.polls,
            "next_poll_at": _iso(s.next_poll_at) if s.next_poll_at is not None else None,
        }
        for s in ledger.waiting_submissions(poll_after=poll_after)
    ]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _days(value: str) -> float:
    """argparse type for ``--older-than``: a number of days more than 0."""
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {value!r}") from None
    if not days > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of days more than 0, got {value!r}")
    return days


def _refuse_unused_options(args: argparse.Namespace, mode: str) -> None:
    """A `UsageError` for an option the mode would ignore (``--status --to store``), not a silent exit 0."""
    for attribute, option in _OPTIONS.items():
        value = getattr(args, attribute)
        if value is None or value is False or attribute in _USES[mode]:
            continue
        users = [name for name, uses in _USES.items() if attribute in uses]
        goes_with = users[0] if len(users) == 1 else f"{', '.join(users[:-1])} or {users[-1]}"
        raise UsageError(f"{option} does not apply to {mode}; it goes with {goes_with}")


def _run(relay: Relay, args: argparse.Namespace, destinations: list[str] | None) -> int:
    if args.secure_request_id is not None:
        batch_id, wait = args.secure_request_id.strip(), 60.0 if args.max_wait is None else args.max_wait
        if not args.collect:
            batch_id = validate_secure_request_id(batch_id)  # the ledger's form: lower case
        if args.collect:
            source, key = COLLECT, "request_id"
            report = relay.relay_collect(batch_id, destinations=destinations, max_wait=wait)
        else:
            source, key = UPSCALE, "secure_request_id"
            report = relay.relay(batch_id, destinations=destinations, max_wait=wait)
        counts = relay.ledger.batch_counts(source, batch_id)
        state = relay.ledger.batch_state(source, batch_id)
        return _finish(report, {key: batch_id, "batch_state": state, "deliveries": counts})
    max_wait = 0.0 if args.max_wait is None else args.max_wait
    if args.retry_dead:
        targets: list[str | None] = list(destinations) if destinations else [None]
        for destination in targets:
            relay.ledger.retry_dead(now=relay.clock(), destination=destination)
        report = relay.run_pending(max_wait=max_wait)
    else:
        report = relay.run_pending(max_wait=max_wait)
    status = relay.ledger.status(dead_sample=0)
    return _finish(report, {"batches": status["batches"], "deliveries": status["deliveries"]})


def _finish(report: RelayReport, extra: dict[str, Any]) -> int:
    out = {**extra, **report.to_json()}
    print_json(out)
    if report.released:
        print(
            f"msgrelay: stopped; {report.released} claimed deliveries released undelivered, for "
            "'msgrelay relay --pending'",
            file=sys.stderr,
        )
        return EXIT_API
    deliveries = extra.get("deliveries", {})
    left = deliveries.get("pending", 0) + deliveries.get("claimed", 0) + deliveries.get("dead", 0)
    failed_batch = extra.get("batch_state") in {"pending", "dead"} or bool(
        extra.get("batches", {}).get("dead")
    )
    if left or failed_batch:
        print(
            f"msgrelay: {left} deliveries not made yet; see 'msgrelay relay --status', then "
            "'msgrelay relay --pending' or '--retry-dead'",
            file=sys.stderr,
        )
        return EXIT_API
    return EXIT_OK


def _export(fmt: str, output: Path | None) -> int:
    store = open_store()
    if output is None:
        count = store.export_jsonl(sys.stdout) if fmt == "jsonl" else store.export_csv(sys.stdout)
    else:
        try:
            out = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        with out:
            count = store.export_jsonl(out) if fmt == "jsonl" else store.export_csv(out)
    print(f"msgrelay: exported {count} messages from {store.where}", file=sys.stderr)
    return EXIT_OK
