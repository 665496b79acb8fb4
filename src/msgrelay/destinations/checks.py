"""What ``msgrelay check`` reports: one `CheckResult` per thing checked, from msgrelay itself and from
each destination that registered a ``check``.

A destination's check proves what it can without side effects: its settings are present and
well-formed, and, where the vendor has a cheap read (a "who am I", a campaign lookup), that the key is
accepted. It never delivers anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from msgrelay.errors import PLUGIN_FAILURES, MsgrelayError

__all__ = ["Check", "CheckResult", "as_check_results", "checked", "run_check"]


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


def as_check_results(name: str, found: object) -> list[CheckResult]:
    """What a built destination's ``check()`` returned, as lines for destination ``name``.

    A type's factory returns an object whose optional ``check()`` (`BuiltDestination`) may answer in
    any of the shapes first-party plugins use: `CheckResult` lines; one line of what was verified
    (``str``); a list of problems (``list[str]``, empty when all is well); or objects with ``name``,
    ``ok`` and ``detail``. A raised msgrelay error is the failure (see `checked`).
    """
    if isinstance(found, CheckResult):
        return [found]
    if isinstance(found, str):
        return [CheckResult(f"{name}: settings", True, found)]
    items = list(found) if isinstance(found, Iterable) else [found]
    if not items:
        return [CheckResult(f"{name}: settings", True, "no problem found")]
    results: list[CheckResult] = []
    for item in items:
        if isinstance(item, CheckResult):
            results.append(item)
        elif isinstance(item, str):
            results.append(CheckResult(f"{name}: settings", False, "refused", item))
        elif isinstance(ok := getattr(item, "ok", None), bool):
            detail = str(getattr(item, "detail", ""))
            line = str(getattr(item, "name", f"{name}: settings"))
            results.append(
                CheckResult(line, True, detail) if ok else CheckResult(line, False, "refused", detail)
            )
        else:
            results.append(CheckResult(f"{name}: check", False, f"unreadable check result {item!r:.80}"))
    return results


def checked(name: str, check: Callable[[], object]) -> Callable[[], list[CheckResult]]:
    """A `Check` for destination ``name`` from a built destination's ``check`` method: its answer read
    by `as_check_results`, a msgrelay error it raises (a refused key, a missing setting) one failed
    line whose fix is the error's own text (which names the setting)."""

    def run() -> list[CheckResult]:
        try:
            found = check()
        except MsgrelayError as exc:
            return [CheckResult(f"{name}: settings", False, "refused", str(exc))]
        return as_check_results(name, found)

    return run
