"""First-party plugins are built on msgrelay's public face only, as a third party's would be.

The public set is the package faces below (each with an honest ``__all__``, see test_public_api.py) and
the two documented converter modules. A plugin that imports anything else (a private module, a module
inside a package, a name outside ``__all__``) would break when we move code; this test fails first.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The modules plugins may import from (README.md, "Writing a plugin", lists the same).
PUBLIC_MODULES = frozenset(
    {
        "msgrelay",
        "msgrelay.collect",
        "msgrelay.collect.convert",
        "msgrelay.config",
        "msgrelay.destinations",
        "msgrelay.errors",
        "msgrelay.ledger",
        "msgrelay.plugins",
        "msgrelay.relay",
        "msgrelay.sandbox",
        "msgrelay.steps",
        "msgrelay.testing",
        "msgrelay.testing.cassettes",
        "msgrelay.transport",
        "msgrelay.upscale",
        "msgrelay.upscale.convert",
        "msgrelay.web",
    }
)

PLUGIN_FILES = sorted(
    path for folder in ("src", "tests") for path in (ROOT / "plugins").glob(f"*/{folder}/**/*.py")
)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def problems_in(source: str, where: str) -> list[str]:
    """Every import of ``msgrelay`` in ``source`` that is not a public module or not a public name.

    Import statements only: an attribute chain after ``import msgrelay`` (``msgrelay.relay.pipeline.X``)
    is not followed, and none of our plugins writes one.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[tuple[str, str | None]]
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in targets:
            if module != "msgrelay" and not module.startswith("msgrelay."):
                continue
            line = f"{where}:{node.lineno}"
            if name is not None and _is_module(f"{module}.{name}"):
                module, name = f"{module}.{name}", None
            if module not in PUBLIC_MODULES:
                found.append(f"{line}: {module} is not a public module")
            elif name is not None and name not in importlib.import_module(module).__all__:
                found.append(f"{line}: {module}.{name} is not in {module}.__all__")
    return found


def test_plugins_are_found() -> None:
    """The walk sees the first-party plugins' code, source and tests (an empty walk would pass vacuously)."""
    walked = {(path.relative_to(ROOT).parts[1], path.relative_to(ROOT).parts[2]) for path in PLUGIN_FILES}
    assert {("webhook", "src"), ("webhook", "tests")} <= walked


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_imports_only_public_names(path: Path) -> None:
    """Each plugin file imports msgrelay only through its public modules and their ``__all__``."""
    assert problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from msgrelay.transport.session import Transport", "not a public module"),
        ("from msgrelay.relay import pipeline", "not a public module"),
        ("import msgrelay.ledger.sqlite", "not a public module"),
        ("from msgrelay.transport import logger", "not in msgrelay.transport.__all__"),
    ],
)
def test_a_private_import_is_caught(source: str, problem: str) -> None:
    """The checker itself fails on private modules and on names outside ``__all__``."""
    assert problem in " ".join(problems_in(source, "plugin.py"))


def test_public_modules_exist() -> None:
    """Every module in the public set imports and declares ``__all__``."""
    assert all(hasattr(importlib.import_module(name), "__all__") for name in PUBLIC_MODULES)
