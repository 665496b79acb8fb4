"""``msgrelay serve``: the webhook receiver, with the relay working in the background.

With ``MSGRELAY_BROKER_URL`` set, ``serve`` only verifies, stores, answers and enqueues: the relay runs
in ``msgrelay worker`` processes (`msgrelay.relay.tasks`), so any number of receivers, holding no
state, can sit behind a load balancer.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

from msgrelay.cli._common import (
    EXIT_OK,
    add_config_option,
    comma_list,
    explicit_destinations,
    install_config,
    port,
    positive_int,
    say,
    sigterm_as_interrupt,
)
from msgrelay.cli._retention import pruner, retention_days
from msgrelay.config import MSGRELAY_API_TOKEN, MSGRELAY_BROKER_URL, read_env
from msgrelay.destinations.store import open_store
from msgrelay.errors import ConfigurationError
from msgrelay.ledger import Ledger, open_ledger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay, RelayWorker
from msgrelay.relay.poll import poll_settings
from msgrelay.steps import STEPS, run_step
from msgrelay.transport.redact import redact_url
from msgrelay.web.app import RESERVED_THREADS, ServeApp
from msgrelay.web.receiver import UPSCALE_WEBHOOK_PATH, Receiver
from msgrelay.web.server import BackgroundServer


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``serve`` command."""
    parser = commands.add_parser(
        "serve",
        help="receive Upscale completion webhooks and relay them",
        description=f"Serve POST {UPSCALE_WEBHOOK_PATH} and GET /healthz with waitress; with "
        "MSGRELAY_API_TOKEN set, also the low-code steps (POST /v1/steps/NAME, GET /v1/openapi.json) "
        "and the operator console (GET /); GET /metrics for Prometheus. Each webhook is "
        "verified, stored in the ledger, answered 200, then relayed in the background to the destinations. "
        "Verification: the notify URL must carry ?token=$MSGRELAY_WEBHOOK_SECRET (or the X-Msgrelay-Token "
        "header). If the ledger cannot store an event within 5 s, the answer is 503 and the vendor retries. "
        "Work left unfinished (a crash, a failing destination) is resumed every few seconds. "
        "Stops cleanly on Ctrl+C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=port, default=8080, help="port to bind, 0-65535; 0 picks a free one (default 8080)"
    )
    parser.add_argument(
        "--to",
        type=comma_list,
        metavar="NAME,...",
        help="destinations of every batch (default: $MSGRELAY_DESTINATIONS, else each batch is routed by "
        "--config's routes, else the built-in 'store')",
    )
    add_config_option(parser)
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=8,
        help=f"threads answering requests, at least 1 (default 8); steps run on at most all but "
        f"{RESERVED_THREADS}, which stay free for webhooks",
    )
    parser.add_argument(
        "--public-url",
        type=_http_url,
        metavar="URL",
        help="the base URL clients reach this server at, advertised in /v1/openapi.json "
        "(default: the relative server /)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="accept unverified webhooks when MSGRELAY_WEBHOOK_SECRET is unset (trusted networks only)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=500,
        metavar="N",
        help="deliveries claimed together, at least 1 (default 500); smaller means less work repeated "
        "after a crash, larger means faster",
    )
    parser.set_defaults(handler=cmd_serve)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {redact_url(value)!r}")
    return value.rstrip("/")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl+C or SIGTERM)."""
    with sigterm_as_interrupt():
        plugins = PluginManager().load()
        # Checked now (the config file, --to or the environment's), so a typo fails at start rather
        # than at each webhook.
        routes = install_config(plugins, args.config)
        relay_destinations = explicit_destinations(plugins, args.to, routes=routes)
        poll_settings()  # a bad MSGRELAY_POLL_* fails here, not in the background relay's thread
        days = retention_days()  # a bad value fails at start, naming the variable
        ledger = open_ledger()  # a file that is not a database, or from a newer msgrelay, fails here
        try:
            # Damaged pages fail now, one line, rather than at every sweep and webhook; a quick_check
            # reads the whole file, so only once (0.2 s for 100 MB cached, 3 s cold).
            check_integrity = getattr(ledger, "check_integrity", None)
            if check_integrity is not None:
                check_integrity()
            housekeeping = None if days is None else pruner(ledger, open_store(), days=days, clock=time.time)
            worker: Any = _background(
                ledger, plugins, relay_destinations, args.batch_size, routes, housekeeping=housekeeping
            )
            receiver = Receiver(
                ledger=ledger,
                insecure=args.insecure,
                on_event=worker.submit,
                destinations=relay_destinations,
                health=worker.problem,
            )
            app = ServeApp(
                ledger=ledger,
                receiver=receiver,
                steps=STEPS,
                run=run_step,
                on_retry=worker.submit,
                threads=args.threads,
                public_url=args.public_url,
            )
            server = BackgroundServer(app, host=args.host, port=args.port, threads=args.threads)
            # The interrupt may land while the port line is printed as well as in the wait.
            try:
                with worker, server:
                    # The port line goes to stderr, never the token: the notify URL is built by the sender.
                    say(
                        f"msgrelay: receiving on {server.url}{UPSCALE_WEBHOOK_PATH}"
                        f" (ledger {_where(ledger)}; "
                        f"relay {worker.describe()})"
                    )
                    on = "on" if app.console.enabled else f"off (set {MSGRELAY_API_TOKEN})"
                    say(
                        f"msgrelay: console {server.url}/, steps API {server.url}/v1/steps/NAME: {on}; "
                        f"metrics {server.url}/metrics"
                    )
                    threading.Event().wait()
            except KeyboardInterrupt:
                say("msgrelay: stopping")
        finally:
            ledger.close()
            plugins.destinations.close()
    return EXIT_OK


class _Enqueuer:
    """The receiver's hand-off when a broker is set: enqueue a fan-out task, relay nothing here."""

    def __init__(self) -> None:
        from msgrelay.relay.tasks import RelayTasks

        def no_relay() -> Relay:  # a receiver only sends tasks
            raise ConfigurationError("a receiver with a broker does not relay")

        self.tasks = RelayTasks(no_relay)

    def submit(self, source: str, batch_id: str) -> None:
        self.tasks.enqueue_fan_out(source, batch_id)

    def describe(self) -> str:
        return "by msgrelay worker, through the broker"

    def problem(self) -> str | None:
        # Nothing relays here: a broker that is down only delays the nudge (the event is stored, and
        # the workers' sweep picks it up), so it does not make this receiver unhealthy.
        return None

    def __enter__(self) -> _Enqueuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tasks.app.close()


class _Local(RelayWorker):
    def describe(self) -> str:
        return "in this process"


def _background(
    ledger: Ledger,
    plugins: PluginManager,
    destinations: list[str] | None,
    batch_size: int,
    routes: Any,
    *,
    housekeeping: Callable[[], None] | None = None,
) -> Any:
    """Who relays what this receiver stores: Celery workers with a broker, else a thread here."""
    if read_env(MSGRELAY_BROKER_URL):
        try:
            return _Enqueuer()
        except ImportError:
            raise ConfigurationError(
                f"{MSGRELAY_BROKER_URL} is set but Celery is not installed: pip install 'msgrelay[celery]'"
            ) from None
    return _Local(
        lambda: Relay(
            ledger=ledger, plugins=plugins, destinations=destinations, batch_size=batch_size, routes=routes
        ),
        housekeeping=housekeeping,
    )


def _where(ledger: Ledger) -> str:
    """The ledger's file or database (never a password)."""
    return str(getattr(ledger, "where", None) or getattr(ledger, "path", "?"))
