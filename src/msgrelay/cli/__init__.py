"""The ``msgrelay`` command.

Each public module of this package is one command group and defines ``register(subparsers)``, which adds
its parser and sets ``handler`` (``handler(args) -> exit code``). `main` maps errors to exit codes in one
place: bad input 2, API or network failure 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from msgrelay import errors
from msgrelay._version import __version__
from msgrelay.cli._common import EXIT_API, EXIT_USAGE, SECRET_OPTIONS, UsageError
from msgrelay.transport.redact import redact_text

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors never echo a secret option's value
    (``unrecognized arguments: --api-key sk-...``). Sub-parsers are made of the same class."""

    #: The values given to secret options on this command line (set by `main`).
    secret_values: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        super().error(redact_text(message, self.secret_values))


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
                yield from _all_parsers(child)


def secret_values(argv: Sequence[str]) -> tuple[str, ...]:
    """The values given to the secret options in ``argv`` (``--api-key K``, ``--api-key=K``, and the
    abbreviations argparse accepts, ``--api K``)."""
    found: list[str] = []
    for index, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if len(name) < 4 or not name.startswith("--"):
            continue
        if any(option.startswith(name) for option in SECRET_OPTIONS):
            if equals:
                found.append(value)
            elif index + 1 < len(argv):
                found.append(argv[index + 1])
    return tuple(v for v in found if v)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser, with every command group found in this package.

    Args:
        argv: the command line it will parse, so that no usage error echoes a secret option's value.
    """
    parser = _Parser(
        prog="msgrelay",
        description=(
            "Relay generated outreach messages from Upscale Outreach and Collect into CRMs, outreach "
            "tools and workflows. Output is JSON (or JSON Lines) on stdout; errors are one line on stderr."
        ),
        epilog="Run 'msgrelay COMMAND --help' for a command's options. "
        "Exit codes: 0 ok, 1 API failure, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"msgrelay {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv for HTTP detail)"
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    secrets = secret_values(argv)
    for each in _all_parsers(parser):
        if each is not parser:
            # -v before or after the command (`msgrelay upscale credits -v`); SUPPRESS keeps an
            # unset one from hiding the top level's.
            each.add_argument(
                "-v",
                "--verbose",
                action="count",
                default=argparse.SUPPRESS,
                help="log to stderr (-vv for HTTP detail)",
            )
        if isinstance(each, _Parser):
            each.secret_values = secrets
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if verbosity == 0:
        return  # leave a host's logging as it is
    logging.getLogger("msgrelay").setLevel(level)
    # urllib3's DEBUG lines print raw paths and queries, and a capability URL (a notify token, a
    # Zapier hook path) is a credential; msgrelay.transport logs the same requests with secrets redacted.
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    _configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except (UsageError, errors.ValidationError, errors.ConfigurationError) as exc:
        print(f"msgrelay: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except errors.MsgrelayError as exc:
        print(f"msgrelay: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_API
    except KeyboardInterrupt:
        print("msgrelay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, jq) went away; that is not our failure.
        return 0
