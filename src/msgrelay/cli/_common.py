"""What every command shares: JSON output, input errors, exit codes."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from msgrelay.config import MSGRELAY_CONFIG, MSGRELAY_DESTINATIONS, env_list
from msgrelay.destinations import RouteTable, config_from_env, load_config
from msgrelay.relay import default_destinations

if TYPE_CHECKING:
    from msgrelay.plugins import PluginManager

#: Exit codes: 0 success, 1 the API or the network failed, 2 the input was wrong.
EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2

#: Options whose values are credentials: a usage error shows ``REDACTED`` instead of their value.
SECRET_OPTIONS = ("--api-key",)

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input on the command line or in a file named there. Exits 2 with one line on stderr."""


def _default(value: Any) -> Any:
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def dumps(value: Any, *, pretty: bool = False) -> str:
    """JSON text; indented when ``pretty``."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, default=_default, option=option).decode()


def say(line: str) -> None:
    """``line`` on stderr in one write, newline included.

    `print` writes the text and its newline separately, and a SIGTERM (raised as `KeyboardInterrupt`
    by `sigterm_as_interrupt`) can land between the two: the next line, "stopping", would then be
    glued to this one. A signal handler runs between bytecodes, so one write is all or nothing.
    """
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def print_json(value: Any, *, out: TextIO | None = None) -> None:
    """One JSON document on stdout, indented when stdout is a terminal."""
    stream = out or sys.stdout
    stream.write(dumps(value, pretty=stream.isatty()) + "\n")
    stream.flush()


def print_jsonl(values: Iterable[Any], *, out: TextIO | None = None) -> int:
    """One compact JSON document per line; returns how many were written."""
    stream = out or sys.stdout
    count = 0
    for value in values:
        stream.write(dumps(value) + "\n")
        count += 1
    stream.flush()
    return count


def comma_list(value: str) -> list[str]:
    """argparse type for ``a,b,c``."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def whole_number(
    *, minimum: int, maximum: int | None = None, noun: str = "a whole number", in_range: str | None = None
) -> Callable[[str], int]:
    """An argparse type for an integer in ``[minimum, maximum]``.

    Args:
        noun: what a value must be, for the "not a number" error.
        in_range: what a value must be, for the "out of range" error (default: the noun and limits).
    """
    limits = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
    wanted = in_range or f"{noun} {limits}"

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value!r}")
        return number

    return parse


#: A count >= 1 (a batch size of 0 would claim, and so deliver, nothing).
positive_int = whole_number(minimum=1, in_range="a positive whole number")
#: A count >= 0.
non_negative_int = whole_number(minimum=0, in_range="a whole number, 0 or more")
#: A TCP port; 0 lets the OS pick a free one.
port = whole_number(
    minimum=0, maximum=65535, noun="a port number", in_range="a port from 0 to 65535 (0 = any free port)"
)


def positive_float(value: str) -> float:
    """argparse type for a number of seconds > 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def non_negative_float(value: str) -> float:
    """argparse type for a number of seconds >= 0 (0: do not wait)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {value!r}")
    return number


def resolve_destinations(plugins: PluginManager, to: Sequence[str] | None) -> list[str]:
    """The destinations a command will deliver to: ``--to``, else ``$MSGRELAY_DESTINATIONS``, else
    ``store``; a `UsageError` naming an unknown one and where it came from, before anything runs."""
    if to:
        names, origin = list(to), "--to"
    elif env_list(MSGRELAY_DESTINATIONS):
        names, origin = default_destinations(), f"${MSGRELAY_DESTINATIONS}"
    else:
        names, origin = default_destinations(), "the default"
    registry = plugins.destinations
    for name in names:
        if name not in registry:
            known = ", ".join(registry.names()) or "none"
            raise UsageError(
                f"unknown destination {name!r} from {origin} (registered: {known}); "
                "install or enable the plugin that provides it"
            )
    return names


def explicit_destinations(
    plugins: PluginManager, to: Sequence[str] | None, *, routes: RouteTable
) -> list[str] | None:
    """``--to``, else ``$MSGRELAY_DESTINATIONS``, checked (`resolve_destinations`); None when neither is
    set: each batch is then routed when fanned out (the ``route_destinations`` hook, the config file's
    ``routes``, else ``store``)."""
    if to or env_list(MSGRELAY_DESTINATIONS):
        return resolve_destinations(plugins, to)
    if not routes:
        resolve_destinations(plugins, None)  # every batch goes to the default: check it now
    return None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``: the destination instances and routes file (default ``$MSGRELAY_CONFIG``)."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML file of destination instances and routes per customer and campaign (default: "
        f"${MSGRELAY_CONFIG}); checked at start, a bad line exits 2 naming the file, table and key",
    )


def install_config(plugins: PluginManager, path: str | None) -> RouteTable:
    """Load ``--config`` (else ``$MSGRELAY_CONFIG``), build its instances into ``plugins``; its routes.

    No file: no routes. A bad file raises `ConfigurationError` (exit 2) naming the file, table and key.
    """
    config = load_config(path) if path else config_from_env()
    if config is None:
        return RouteTable()
    config.install(plugins.destinations)
    return config.routes


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, the first SIGTERM (a process manager's stop) raises `KeyboardInterrupt` in the main
    thread, so a server shuts down as it does on Ctrl+C; a second SIGTERM acts as it did before.

    Outside the main thread (a host calling `main` from a worker) signals cannot be handled: no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    restore = previous if previous is not None else signal.SIG_DFL

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, restore)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, restore)


def add_subcommands(parser: argparse.ArgumentParser, *, title: str) -> argparse._SubParsersAction[Any]:
    """Sub-commands that are required, with help when none is given."""
    sub = parser.add_subparsers(title=title, metavar="COMMAND")
    sub.required = True
    return sub
