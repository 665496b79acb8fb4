"""The public names stay importable and documented (``__all__`` kept honest)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "msgrelay",
    "msgrelay.collect",
    "msgrelay.config",
    "msgrelay.destinations",
    "msgrelay.errors",
    "msgrelay.ledger",
    "msgrelay.plugins",
    "msgrelay.relay",
    "msgrelay.sandbox",
    "msgrelay.testing",
    "msgrelay.transport",
    "msgrelay.upscale",
    "msgrelay.web",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_only_real_names(name: str) -> None:
    """Every name in __all__ exists."""
    module = importlib.import_module(name)
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert not missing


@pytest.mark.parametrize("name", [p for p in PACKAGES if p not in {"msgrelay.errors", "msgrelay.config"}])
def test_all_lists_every_public_reexport(name: str) -> None:
    """Every public name a package imports from msgrelay is in its __all__."""
    module = importlib.import_module(name)
    public = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_")
        and getattr(value, "__module__", "").startswith("msgrelay")
        and not isinstance(value, type(importlib))
    }
    assert public <= set(module.__all__)


def test_every_public_class_and_function_is_documented() -> None:
    """A user reading help() finds a docstring on each public name."""
    undocumented = []
    for name in PACKAGES:
        module = importlib.import_module(name)
        for item in module.__all__:
            value = getattr(module, item)
            if callable(value) and not (getattr(value, "__doc__", None) or "").strip():
                undocumented.append(f"{name}.{item}")
    assert not undocumented


def test_plugins_import_hookimpl_from_the_package() -> None:
    """The marker plugins use is msgrelay.hookimpl, bound to the msgrelay project."""
    import msgrelay

    assert msgrelay.hookimpl.project_name == "msgrelay"
