"""``msgrelay plugins``: the installed plugins, their hooks, destinations and load errors, as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from msgrelay.cli._common import EXIT_OK, print_json
from msgrelay.plugins import PluginManager


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``plugins`` command."""
    parser = commands.add_parser(
        "plugins",
        help="list installed plugins (JSON)",
        description="List the plugins msgrelay loads from the 'msgrelay' entry-point group: name, version, "
        "hooks, destinations, and any error met while loading. A plugin that fails to import is listed with "
        "its error and the others still load (MSGRELAY_STRICT_PLUGINS=1 makes that fatal). "
        "MSGRELAY_LOAD_PLUGINS and MSGRELAY_DISABLE_PLUGINS (comma lists) choose which load.",
    )
    parser.add_argument(
        "--all", action="store_true", help="include the built-in and disabled plugins, with their state"
    )
    parser.set_defaults(handler=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    """Print the plugin list."""
    print_json(PluginManager().load().describe(include_all=args.all))
    return EXIT_OK
