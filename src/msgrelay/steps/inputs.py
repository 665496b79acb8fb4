"""Step inputs as low-code platforms send them: JSON values, or strings holding them (Zapier and n8n
send every value as a string), checked into one `ValidationError` naming the input.
"""

from __future__ import annotations

from typing import Any

import orjson

from msgrelay.errors import Problem, ValidationError

__all__ = ["as_list", "as_rows", "as_seconds", "bad", "parse_json"]


def bad(name: str, message: str) -> ValidationError:
    return ValidationError(Problem(name, message), subject="step input")


def parse_json(name: str, text: str) -> Any:
    """JSON that arrived as a string (Zapier and n8n pass every value as one)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise bad(name, f"not valid JSON ({exc.msg})") from None


def as_list(name: str, value: list[str] | str | None) -> list[str] | None:
    """A list from a JSON array, a JSON array in a string, or a comma list (Zapier sends strings)."""
    if value is None or isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise bad(name, f"expected a list or a comma-separated string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        parsed = parse_json(name, text)
        if not isinstance(parsed, list):
            raise bad(name, "expected a JSON array")
        return [str(item) for item in parsed]
    return [item.strip() for item in text.split(",") if item.strip()]


def as_seconds(name: str, value: float | str) -> float:
    """A number of seconds >= 0, given as a number or a numeric string."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise bad(name, f"expected a number of seconds, got {value!r}") from None
    if not seconds >= 0:  # also refuses nan
        raise bad(name, f"expected a number of seconds >= 0, got {value!r}")
    return seconds


def as_rows(value: list[dict[str, Any]] | str) -> list[dict[str, Any]]:
    rows = parse_json("leads", value) if isinstance(value, str) else value
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise bad("leads", "expected a JSON array of lead objects")
    return rows
