"""``msgrelay check``: whether the setup works, before the first real batch.

Each check is one `CheckResult` line: the Upscale key (a credits call, which costs nothing) and base
URL, the Collect key (a read of a request that cannot exist: 404 proves the key, 401 refuses it), the
webhook secret ``serve`` needs, the ledger, and each selected destination through the ``check`` its
plugin registered (the built-in store proves its file writable). Nothing is sent or delivered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import Any

from msgrelay.cli._common import (
    EXIT_API,
    EXIT_OK,
    add_config_option,
    comma_list,
    print_jsonl,
    resolve_destinations,
)
from msgrelay.collect.client import CollectClient
from msgrelay.config import (
    COLLECT_API_KEY,
    COLLECT_BASE_URL,
    MSGRELAY_HOME,
    MSGRELAY_WEBHOOK_SECRET,
    UPSCALE_API_KEY,
    UPSCALE_BASE_URL,
    read_env,
)
from msgrelay.destinations import CheckResult, config_from_env, load_config
from msgrelay.destinations.checks import run_check
from msgrelay.errors import (
    AuthenticationError,
    ConfigurationError,
    LedgerError,
    MsgrelayError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)
from msgrelay.ledger import SQLiteLedger, open_ledger
from msgrelay.ledger.url import is_postgres_url, ledger_url
from msgrelay.ledger.versions import NewerSchemaError
from msgrelay.plugins import PluginManager
from msgrelay.upscale.client import UpscaleClient

#: A request id no Collect account has: reading it proves the key (404) without touching real data.
PROBE_REQUEST_ID = "msgrelay-check-probe"
#: Seconds for each check's HTTP calls: a check is a quick look, not a wait.
CHECK_TIMEOUT = (5.0, 10.0)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``check`` command."""
    parser = commands.add_parser(
        "check",
        help="check the setup (keys, base URLs, destinations, webhook secret, ledger) before a real batch",
        description="One line per check with ok, what was found and how to fix it: the Upscale key (a "
        "credits call) and base URL, the Collect key (when COLLECT_API_KEY is set), the webhook secret "
        "that serve needs, the ledger in $MSGRELAY_HOME, and each selected destination's own check "
        "(settings present and well-formed, a dry read where the vendor has one), and every instance "
        "of the config file (--config or $MSGRELAY_CONFIG). Nothing is sent. "
        "JSON Lines on stdout, a readable list on a terminal. Exit 1 when any check fails.",
    )
    parser.add_argument(
        "--to",
        type=comma_list,
        metavar="NAME,...",
        help="destinations to check (default: $MSGRELAY_DESTINATIONS, else the built-in 'store')",
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="JSON Lines even on a terminal")
    parser.set_defaults(handler=cmd_check)


def _failure(name: str, exc: MsgrelayError, *, key: str, base: str) -> CheckResult:
    # Vendors are capitalised (``Upscale: API key``): a destination's own lines start with its
    # lower-case name (``collect: settings``), and the collect destination has its own key line.
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return CheckResult(f"{name}: API key", False, str(exc), f"set {key} to a key the vendor accepts")
    if isinstance(exc, TransportError):
        return CheckResult(
            f"{name}: base URL", False, str(exc), f"check {base} (unset: the vendor's) and the network"
        )
    if isinstance(exc, ConfigurationError):
        return CheckResult(
            f"{name}: settings", False, str(exc), f"set {key} (and {base} if not the vendor's)"
        )
    return CheckResult(f"{name}: API", False, str(exc), f"check {base}: it should be the vendor's API root")


def check_upscale() -> CheckResult:
    """The Upscale key, by a credits call (free), which also proves the base URL."""
    try:
        with UpscaleClient(timeout=CHECK_TIMEOUT) as client:
            credits = client.check_credits()
            where = client.base_url
    except MsgrelayError as exc:
        return _failure("Upscale", exc, key=UPSCALE_API_KEY, base=UPSCALE_BASE_URL)
    return CheckResult(
        "Upscale: API key", True, f"accepted by {where}: {credits.remaining_credits} credits remaining"
    )


def check_collect() -> CheckResult:
    """The Collect key, when one is set, by reading a request that cannot exist (404 proves the key)."""
    if read_env(COLLECT_API_KEY) is None:
        return CheckResult(
            "Collect: API key", True, f"not configured ({COLLECT_API_KEY} unset): Collect is not used"
        )
    try:
        with CollectClient(timeout=CHECK_TIMEOUT) as client:
            where = client.base_url
            client.get_request(PROBE_REQUEST_ID)
    except NotFoundError:
        return CheckResult("Collect: API key", True, f"accepted by {where}")
    except MsgrelayError as exc:
        return _failure("Collect", exc, key=COLLECT_API_KEY, base=COLLECT_BASE_URL)
    return CheckResult("Collect: API key", True, f"accepted by {where}")


def check_webhook_secret() -> CheckResult:
    """``serve`` refuses to start without a webhook secret (unless ``--insecure``)."""
    if read_env(MSGRELAY_WEBHOOK_SECRET) is None:
        return CheckResult(
            "serve: webhook secret",
            False,
            f"{MSGRELAY_WEBHOOK_SECRET} is unset: serve would refuse to start (or accept anyone's webhooks "
            "with --insecure)",
            f"set {MSGRELAY_WEBHOOK_SECRET} to a long random value (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') and put it in the notify URL as ?token=...",
        )
    return CheckResult("serve: webhook secret", True, f"{MSGRELAY_WEBHOOK_SECRET} is set")


def check_ledger() -> CheckResult:
    """The ledger opens, takes a write (opening an older file upgrades it) and has no damaged pages."""
    ledger: Any = None
    try:
        url = ledger_url()
        # PostgreSQL ($MSGRELAY_LEDGER_URL) when configured: the ledger the relay will really use.
        ledger = open_ledger(url) if is_postgres_url(url) else SQLiteLedger(busy_timeout=5.0)
        check_integrity = getattr(ledger, "check_integrity", None)
        if check_integrity is not None:
            check_integrity()  # what every relay command would find, then exit 1 on
        check_writable = getattr(ledger, "check_writable", None)
        if check_writable is not None:
            check_writable()  # the write lock a relay needs, within the busy time
    except (LedgerError, NewerSchemaError) as exc:  # its message names the file and says how to fix it
        return CheckResult("ledger: writable", False, f"{type(exc).__name__}: {exc}", str(exc))
    except Exception as exc:  # any other failure to open is this line's finding
        return CheckResult(
            "ledger: writable",
            False,
            f"{type(exc).__name__}: {exc}",
            f"make {MSGRELAY_HOME} (default ~/.msgrelay) a writable directory, or point it at one",
        )
    finally:
        if ledger is not None:
            ledger.close()
    return CheckResult(
        "ledger: writable", True, str(getattr(ledger, "where", None) or getattr(ledger, "path", ""))
    )


def _destination_checks(plugins: PluginManager, names: list[str]) -> Iterator[CheckResult]:
    for name in names:
        destination = plugins.destinations.get(name)
        if destination.check is None:
            yield CheckResult(
                f"{name}: settings", True, f"plugin {destination.plugin!r} offers no check for it"
            )
            continue
        yield from run_check(name, destination.check)


def run_checks(plugins: PluginManager, destinations: list[str]) -> list[CheckResult]:
    """Every check, in order: vendors, serve, ledger, then the destinations."""
    core: list[Callable[[], CheckResult]] = [check_upscale, check_collect, check_webhook_secret, check_ledger]
    return [check() for check in core] + list(_destination_checks(plugins, destinations))


def _print_readable(results: list[CheckResult]) -> None:
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        detail = f": {result.detail}" if result.detail else ""
        print(f"{mark} {result.name}{detail}")
        if not result.ok and result.fix:
            print(f"     fix: {result.fix}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} ok, {failed} failed")


def _configured(plugins: PluginManager, path: str | None) -> list[str]:
    """Build the config file's instances (a bad file exits 2 naming the file, table and key); their names."""
    config = load_config(path) if path else config_from_env()
    if config is None:
        return []
    config.install(plugins.destinations)
    return [spec.name for spec in config.instances]


def cmd_check(args: argparse.Namespace) -> int:
    plugins = PluginManager().load()
    try:
        configured = _configured(plugins, args.config)
        names = list(dict.fromkeys([*resolve_destinations(plugins, args.to), *configured]))
        results = run_checks(plugins, names)
    finally:
        plugins.destinations.close()
    if sys.stdout.isatty() and not args.json:
        _print_readable(results)
    else:
        print_jsonl(r.to_json() for r in results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_API
