"""What every command shares: JSON output, input errors, exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson

#: Exit codes: 0 success, 1 the API or the network failed, 2 the input was wrong.
EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input on the command line or in a file named there. Exits 2 with one line on stderr."""


def _default(value: Any) -> Any:
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def dumps(value: Any, *, pretty: bool = False) -> str:
    """JSON text; indented when ``pretty``."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, default=_default, option=option).decode()


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


def positive_int(value: str) -> int:
    """argparse type for a count >= 1 (a batch size of 0 would claim, and so deliver, nothing)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def positive_float(value: str) -> float:
    """argparse type for a number of seconds > 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def add_subcommands(parser: argparse.ArgumentParser, *, title: str) -> argparse._SubParsersAction[Any]:
    """Sub-commands that are required, with help when none is given."""
    sub = parser.add_subparsers(title=title, metavar="COMMAND")
    sub.required = True
    return sub
