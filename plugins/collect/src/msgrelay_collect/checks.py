"""The destination's contribution to ``msgrelay check``: its settings, and its key where a cheap read
can prove it.

Collect has no "who am I" call among the ones msgrelay uses, so the key is proven by listing the
messages of the default request (``MSGRELAY_COLLECT_REQUEST_ID``), a read with no side effect. With
no default request (every lead names its own), the key is not checked and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgrelay import CollectClient
from msgrelay.errors import AuthenticationError, MsgrelayError
from msgrelay_collect.errors import PLUGIN, explain
from msgrelay_collect.settings import CollectSettings

__all__ = ["CheckResult", "check_environment", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    """One line of ``msgrelay check``.

    Attributes:
        name: what was checked (``collect: settings``).
        ok: whether it passed.
        detail: what was found, or how to fix it; never a secret.
    """

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"check": ..., "ok": ..., "detail": ...}``."""
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def run_checks(settings: CollectSettings, client: CollectClient) -> list[CheckResult]:
    """The settings (already valid, since they were built) and, with a default request, the key."""
    results = [
        CheckResult(
            f"{PLUGIN}: settings",
            True,
            f"channel {settings.channel}, Collect at {client.base_url}"
            + (f", default request {settings.request_id}" if settings.request_id else ""),
        )
    ]
    if settings.request_id is None:
        results.append(
            CheckResult(
                f"{PLUGIN}: API key",
                True,
                f"not checked: {settings.source('request_id')} is not set, so there is no request to "
                "read; each lead must carry a collect_request_id",
            )
        )
        return results
    try:
        count = len(client.list_messages(settings.request_id))
    except MsgrelayError as exc:
        error = explain(
            exc,
            api_key_setting=settings.source("api_key"),
            request_id=settings.request_id,
            request_source=settings.source("request_id"),
        )
        name = "API key" if isinstance(error, AuthenticationError) else "default request"
        return [*results, CheckResult(f"{PLUGIN}: {name}", False, str(error))]
    results.append(
        CheckResult(
            f"{PLUGIN}: API key",
            True,
            f"accepted: request {settings.request_id} has {count} message{'s' if count != 1 else ''}",
        )
    )
    return results


def check_environment(environ: Mapping[str, str] | None = None) -> list[CheckResult]:
    """`run_checks` for the environment's settings; a bad setting is one failed line naming it."""
    try:
        settings = CollectSettings.from_env(environ)
    except MsgrelayError as exc:
        return [CheckResult(f"{PLUGIN}: settings", False, str(exc))]
    with CollectClient(settings.api_key, settings.base_url, timeout=settings.timeout) as client:
        return run_checks(settings, client)
