"""What the HubSpot emulator answers with: scripted faults, contacts with their property history, and
the documented bodies of batch results, errors and rate limits (all fields optional on HubSpot's side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "Contact", "Fault", "batch_answer", "error", "matches", "rate_limited", "record_error"]

_TOKENS = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Fault:
    """A scripted answer for the next request of one operation.

    Attributes:
        status: the status to answer (500, 429, 401, 207...).
        retry_after: the ``Retry-After`` seconds of a 429.
        policy: the ``policyName`` of a 429 (``TEN_SECONDLY_ROLLING`` or ``DAILY``).
        failed: for a 207, the input positions that fail; the others are applied.
        category: the failed records' error category.
    """

    status: int
    retry_after: float | None = None
    policy: str = "TEN_SECONDLY_ROLLING"
    failed: tuple[int, ...] = ()
    category: str = "CONFLICT"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Contact:
    """A contact: its id, current properties and every value each property was set to, in order."""

    id: str
    properties: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)

    def set(self, name: str, value: str) -> None:
        """Write a property; a write of the value it already has is not a change (HubSpot's history)."""
        if self.properties.get(name) != value:
            self.properties[name] = value
            self.history.setdefault(name, []).append(value)


def matches(props: dict[str, Any], spec: dict[str, Any]) -> bool:
    value = str(props.get(str(spec.get("propertyName")), ""))
    if spec.get("operator") == "CONTAINS_TOKEN":
        return str(spec.get("value")) in _TOKENS.findall(value)
    return spec.get("operator") == "EQ" and value == str(spec.get("value"))


def record_error(category: str, message: str, trace: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"objectWriteTraceId": [trace]},
    }


def batch_answer(results: list[Any], errors: list[Any], *, created: bool = False) -> Answer:
    stamp = "2026-01-15T10:30:00.000Z"
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
    }
    if errors:
        body.update(errors=errors, numErrors=len(errors))
        return Answer(207, body)
    return Answer(201 if created else 200, body)


def error(status: int, category: str, message: str, *, errors: list[Any] | None = None) -> Answer:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": "0b3f5c7e-emulated",
        "category": category,
    }
    if errors:
        body["errors"] = errors
    return Answer(status, body)


def rate_limited(policy: str, retry_after: float | None) -> Answer:
    label = "daily" if policy == "DAILY" else "ten_secondly_rolling"
    answer = Answer(
        429,
        {
            "status": "error",
            "message": f"You have reached your {label} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "0b3f5c7e-emulated",
            "policyName": policy,
            "groupName": "msgrelay",
        },
    )
    if retry_after is not None:
        answer.headers["Retry-After"] = f"{retry_after:g}"
    return answer
