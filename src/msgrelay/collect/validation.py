"""The Collect write rules, checked locally so a bad message never leaves the process.

Documented rules (contract §4.1, §4.3, §4.4): a title for internal and email messages, an email title of
at least 10 characters, a body of at least 20 characters for email and SMS, no title for SMS, text only
on internal messages, ``sendOn`` an ISO 8601 UTC time. Each check returns every `Problem` it finds,
named by wire field, so one `ValidationError` can list them all.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Final

from msgrelay.collect.models import EMAIL, INTERNAL, KNOWN_CHANNELS, SMS
from msgrelay.collect.timestamps import parse_timestamp
from msgrelay.errors import Problem, ValidationError

__all__ = [
    "BODY_MIN_LENGTH",
    "EMAIL_TITLE_MIN_LENGTH",
    "UNSET",
    "Unset",
    "check_changes",
    "check_id",
    "check_new_message",
    "coerce_send_on",
    "raise_for",
]

EMAIL_TITLE_MIN_LENGTH = 10
BODY_MIN_LENGTH = 20


class Unset(enum.Enum):
    """The type of `UNSET`: "leave this field alone", as opposed to None, "set it to null"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: A field of a partial update that is not sent at all.
UNSET: Final = Unset.UNSET


def raise_for(problems: list[Problem], *, subject: str) -> None:
    """Raise one `ValidationError` listing ``problems``, if there are any."""
    if problems:
        raise ValidationError(problems, subject=subject)


def check_id(value: object, path: str) -> list[Problem]:
    """An id that goes into a URL path: a non-blank string that is not a dot segment."""
    if not isinstance(value, str):
        return [Problem(path, f"must be a string, got {type(value).__name__}")]
    if not value.strip():
        return [Problem(path, "must not be blank")]
    if value in {".", ".."}:
        return [Problem(path, f"{value!r} is not an id")]
    return []


def coerce_send_on(value: object) -> tuple[datetime | None, Problem | None]:
    """``sendOn`` as an aware UTC datetime, from a datetime or an ISO 8601 string with a zone."""
    example = "such as 2026-02-06T10:00:00Z"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return None, Problem("sendOn", f"needs a time zone; a naive datetime is no instant ({example})")
        try:
            return value.astimezone(UTC), None
        except OverflowError:
            return None, Problem("sendOn", "is out of the range of dates in UTC (years 1 to 9999)")
    if isinstance(value, str):
        try:
            return parse_timestamp(value, require_zone=True), None
        except ValueError:
            return None, Problem("sendOn", f"must be an ISO 8601 UTC time {example}, got {value!r}")
    return None, Problem("sendOn", f"must be a datetime or an ISO 8601 string, got {type(value).__name__}")


def _text_problems(path: str, value: object, *, minimum: int = 0) -> list[Problem]:
    if not isinstance(value, str):
        return [Problem(path, f"must be a string, got {type(value).__name__}")]
    if not value.strip():
        return [Problem(path, "must not be blank")]
    if len(value) < minimum:
        return [Problem(path, f"must be at least {minimum} characters, got {len(value)}")]
    return []


def check_new_message(
    channel: object,
    *,
    title: object = None,
    text: object = None,
    body: object = None,
    send_on: object = None,
) -> list[Problem]:
    """Every problem with a new message; None means "not given".

    Args:
        channel: ``internal``, ``email`` or ``sms``.
        title: required for internal and email (email: at least 10 characters); not used for SMS.
        text: internal only; markdown, or None for no text.
        body: required for email and SMS, at least 20 characters.
        send_on: email and SMS only; a timezone-aware datetime or an ISO 8601 string with a zone.
    """
    if channel not in KNOWN_CHANNELS:
        known = ", ".join(KNOWN_CHANNELS)
        return [Problem("channel", f"must be one of {known}, got {channel!r}")]
    problems: list[Problem] = []
    if channel == SMS:
        if title is not None:
            problems.append(Problem("title", "is not used for SMS messages; leave it out"))
    elif title is None:
        problems.append(Problem("title", f"is required for {channel} messages"))
    else:
        minimum = EMAIL_TITLE_MIN_LENGTH if channel == EMAIL else 0
        problems += _text_problems("title", title, minimum=minimum)
    if channel == INTERNAL:
        if text is not None and not isinstance(text, str):
            problems.append(Problem("text", f"must be a string or null, got {type(text).__name__}"))
        if body is not None:
            problems.append(Problem("body", "is not used for internal messages; put the content in text"))
        if send_on is not None:
            problems.append(Problem("sendOn", "is not used for internal messages, which are never sent"))
        return problems
    if text is not None:
        problems.append(Problem("text", f"is for internal messages only; {channel} messages have a body"))
    if body is None:
        problems.append(Problem("body", f"is required for {channel} messages"))
    else:
        problems += _text_problems("body", body, minimum=BODY_MIN_LENGTH)
    if send_on is not None:
        _, problem = coerce_send_on(send_on)
        problems += [problem] if problem else []
    return problems


def check_changes(
    *,
    title: object = UNSET,
    text: object = UNSET,
    body: object = UNSET,
    send_on: object = UNSET,
    channel: str | None = None,
) -> list[Problem]:
    """Every problem with a partial update; `UNSET` means "leave alone", None means "set to null".

    Only ``text`` may be null (it clears the text). With ``channel`` given, the rules of that channel
    apply too (an email title of at least 10 characters, no text on email or SMS...); an unknown
    channel adds no rule.
    """
    if all(value is UNSET for value in (title, text, body, send_on)):
        return [Problem("", "nothing to change: set at least one of title, text, body, sendOn")]
    problems: list[Problem] = []
    if title is not UNSET:
        if title is None:
            problems.append(_not_null("title"))
        elif channel == SMS:
            problems.append(Problem("title", "is not used for SMS messages; leave it out"))
        else:
            minimum = EMAIL_TITLE_MIN_LENGTH if channel == EMAIL else 0
            problems += _text_problems("title", title, minimum=minimum)
    if text is not UNSET:
        if text is not None and not isinstance(text, str):
            problems.append(Problem("text", f"must be a string or null, got {type(text).__name__}"))
        elif channel in {EMAIL, SMS}:
            problems.append(Problem("text", f"is for internal messages only; {channel} messages have a body"))
        elif body is not UNSET:
            problems.append(Problem("text", "a message has text (internal) or a body (email, SMS), not both"))
    if body is not UNSET:
        if body is None:
            problems.append(_not_null("body"))
        elif channel == INTERNAL:
            problems.append(Problem("body", "is not used for internal messages; change text instead"))
        else:
            problems += _text_problems("body", body, minimum=BODY_MIN_LENGTH)
    if send_on is not UNSET:
        if send_on is None:
            problems.append(_not_null("sendOn"))
        elif channel == INTERNAL:
            problems.append(Problem("sendOn", "is not used for internal messages, which are never sent"))
        else:
            _, problem = coerce_send_on(send_on)
            problems += [problem] if problem else []
    return problems


def _not_null(path: str) -> Problem:
    return Problem(path, "cannot be null; leave it out to keep the current value")
