"""``msgrelay worker``: a Celery worker running msgrelay's tasks (and beat, the periodic sweep)."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from msgrelay.cli._common import EXIT_OK, add_config_option, comma_list, install_config, positive_int
from msgrelay.cli._retention import pruner, retention_days
from msgrelay.config import MSGRELAY_BROKER_URL, msgrelay_home, read_env
from msgrelay.errors import ConfigurationError


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``worker`` command."""
    parser = commands.add_parser(
        "worker",
        help="run a Celery worker that fans out and delivers (needs MSGRELAY_BROKER_URL)",
        description="Consume msgrelay's tasks from the broker ($MSGRELAY_BROKER_URL, a Redis URL): fan-outs "
        "of stored batches and deliveries, one queue per destination. Work is claimed in the ledger "
        "($MSGRELAY_LEDGER_URL; PostgreSQL to share it between machines), so any number of workers "
        "share it without a double delivery. Run exactly one worker with --beat: it schedules the sweep "
        "that resumes what is due, releases dead workers' claims, polls submissions without a webhook and, "
        "with $MSGRELAY_RETENTION_DAYS set, prunes what is finished and older (hourly). "
        "Stops cleanly on Ctrl+C or SIGTERM (finishing the tasks it holds).",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="tasks run at once, at least 1 (default 4)",
    )
    parser.add_argument(
        "--queues",
        type=comma_list,
        metavar="Q,...",
        help="queues to consume (default: 'msgrelay' and msgrelay.deliver.NAME for every destination)",
    )
    parser.add_argument(
        "--beat", action="store_true", help="also run beat, the periodic sweep (one worker only)"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=500,
        metavar="N",
        help="deliveries claimed by one delivery task, at least 1 (default 500)",
    )
    add_config_option(parser)
    parser.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the worker until stopped."""
    if not read_env(MSGRELAY_BROKER_URL):
        raise ConfigurationError(f"no broker: set {MSGRELAY_BROKER_URL}=redis://HOST:6379/0")
    try:
        from msgrelay.relay.tasks import RelayTasks
    except ImportError:
        raise ConfigurationError("msgrelay worker needs Celery: pip install 'msgrelay[celery]'") from None
    from msgrelay.destinations.store import open_store
    from msgrelay.ledger import open_ledger
    from msgrelay.plugins import PluginManager
    from msgrelay.relay import Relay

    plugins = PluginManager().load()
    # The instances and routes of --config (else $MSGRELAY_CONFIG), as serve builds them: workers route
    # the batches a broker-mode serve stored without destinations, so they must hold the same file.
    routes = install_config(plugins, args.config)
    ledger = open_ledger()
    # Retention runs in the beat sweep (one worker, every hour): a bad value fails here, naming it.
    days = retention_days()
    housekeeping = None if days is None else pruner(ledger, open_store(), days=days, clock=time.time)

    def make_relay() -> Relay:
        return Relay(ledger=ledger, plugins=plugins, batch_size=args.batch_size, routes=routes)

    tasks = RelayTasks(make_relay, destinations=plugins.destinations.names(), housekeeping=housekeeping)
    home = msgrelay_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [
        "worker",
        # Threads: the work waits on HTTP and the database; one process, so a kill takes all its claims.
        "--pool=threads",
        f"--concurrency={args.concurrency}",
        f"--queues={','.join(args.queues or tasks.queues())}",
        f"--hostname=msgrelay-{os.getpid()}@%h",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
    ]
    if args.beat:
        argv += ["--beat", f"--schedule={home / 'celerybeat-schedule'}"]
    try:
        tasks.app.worker_main(argv)
    finally:
        tasks.close()
        ledger.close()
    return EXIT_OK
