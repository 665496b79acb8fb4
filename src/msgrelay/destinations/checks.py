"""What ``msgrelay check`` reports: one `CheckResult` per thing checked, from msgrelay itself and from
each destination that registered a ``check``.

A destination's check proves what it can without side effects: its settings are present and
well-formed, and, where the vendor has a cheap read (a "who am I", a campaign lookup), that the key is
accepted. It never delivers anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from msgrelay.errors import PLUGIN_FAILURES

__all__ = ["Check", "CheckResult", "run_check"]


@attrs.frozen
class CheckResult:
    """One line of ``msgrelay check``.

    Attributes:
        name: what was checked (``upscale: API key``, ``hubspot: token``).
        ok: whether it passed.
        detail: what was found; never a secret.
        fix: how to fix it, naming the variable or option to change (empty when ``ok``).
    """

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """``{"check": ..., "ok": ..., "detail": ..., "fix": ...}``."""
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


class Check(Protocol):
    """A destination's ``check()``: its `CheckResult` lines (one result alone is accepted too)."""

    def __call__(self) -> Iterable[CheckResult] | CheckResult: ...


def run_check(name: str, check: Check) -> list[CheckResult]:
    """``check()``'s results, contained: a check that raises, or returns something else, is one failed
    line for destination ``name``, never the end of the report."""
    try:
        found = check()
        results = [found] if isinstance(found, CheckResult) else list(found)
    except PLUGIN_FAILURES as exc:
        return [
            CheckResult(
                f"{name}: check",
                False,
                f"the check raised {type(exc).__name__}: {exc}",
                "fix the setting it names, or report it to the plugin's authors",
            )
        ]
    if not results or not all(isinstance(r, CheckResult) for r in results):
        return [
            CheckResult(
                f"{name}: check",
                False,
                "the check returned no CheckResult lines",
                "report it to the plugin's authors",
            )
        ]
    return results
