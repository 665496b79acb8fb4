"""What a caller writes: a new message per channel, and a partial update.

A draft checks itself when built, so an invalid one never exists: the constructor raises one
`ValidationError` naming every problem by wire field. `new_message` builds the right draft from a channel
name and loose values (the CLI and JSON steps use it); `new_message_from_wire` and
`changes_from_wire` read the wire shape (``sendOn``), where an absent key and ``null`` differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

import attrs

from msgrelay.collect.models import EMAIL, INTERNAL, SMS
from msgrelay.collect.validation import (
    UNSET,
    Unset,
    check_changes,
    check_new_message,
    coerce_send_on,
    raise_for,
)
from msgrelay.errors import Problem

__all__ = [
    "MessageChanges",
    "NewEmailMessage",
    "NewInternalMessage",
    "NewMessage",
    "NewSmsMessage",
    "changes_from_wire",
    "new_message",
    "new_message_from_wire",
]


def _send_on(value: datetime | str | None) -> Any:
    """Parse a string or normalise a datetime to UTC; keep anything unusable for the check to name."""
    if value is None:
        return None
    parsed, _ = coerce_send_on(value)
    return parsed if parsed is not None else value


def _change_send_on(value: datetime | str | Unset) -> Any:
    return value if value is UNSET else _send_on(value)


@attrs.frozen(kw_only=True)
class NewInternalMessage:
    """A new internal note: a title and optional markdown text."""

    channel: ClassVar[str] = INTERNAL

    title: str
    text: str | None = None

    def __attrs_post_init__(self) -> None:
        raise_for(check_new_message(INTERNAL, title=self.title, text=self.text), subject="internal message")


@attrs.frozen(kw_only=True)
class NewEmailMessage:
    """A new email to the request's contact: a subject of 10+ characters and a body of 20+."""

    channel: ClassVar[str] = EMAIL

    title: str
    body: str
    #: When to send it (UTC); None leaves the choice to Collect. A string is parsed as ISO 8601.
    send_on: datetime | None = attrs.field(default=None, converter=_send_on)

    def __attrs_post_init__(self) -> None:
        problems = check_new_message(EMAIL, title=self.title, body=self.body, send_on=self.send_on)
        raise_for(problems, subject="email message")


@attrs.frozen(kw_only=True)
class NewSmsMessage:
    """A new SMS to the request's contact: a body of 20+ characters, no title."""

    channel: ClassVar[str] = SMS

    body: str
    send_on: datetime | None = attrs.field(default=None, converter=_send_on)

    def __attrs_post_init__(self) -> None:
        raise_for(check_new_message(SMS, body=self.body, send_on=self.send_on), subject="SMS message")


NewMessage: TypeAlias = NewInternalMessage | NewEmailMessage | NewSmsMessage


@attrs.frozen(kw_only=True)
class MessageChanges:
    """A partial update: `UNSET` fields are not sent; ``text=None`` clears the text.

    Title, body and sendOn cannot be null. The rules that depend on the channel (an email title of 10+
    characters, no text on email) are checked when `CollectClient.update_message` is told the channel.
    """

    title: str | Unset = UNSET
    text: str | Unset | None = UNSET
    body: str | Unset = UNSET
    send_on: datetime | Unset = attrs.field(default=UNSET, converter=_change_send_on)

    def __attrs_post_init__(self) -> None:
        raise_for(self.problems(), subject="message update")

    def problems(self, channel: str | None = None) -> list[Problem]:
        """Every problem with these changes, with the rules of ``channel`` when it is given."""
        return check_changes(
            title=self.title, text=self.text, body=self.body, send_on=self.send_on, channel=channel
        )

    @property
    def wire_fields(self) -> tuple[str, ...]:
        """The wire names of the fields that will be sent."""
        values = {"title": self.title, "text": self.text, "body": self.body, "sendOn": self.send_on}
        return tuple(name for name, value in values.items() if value is not UNSET)


_CHANNEL_NAMES = {SMS: "SMS"}


def new_message(
    channel: str,
    *,
    title: str | None = None,
    text: str | None = None,
    body: str | None = None,
    send_on: datetime | str | None = None,
) -> NewMessage:
    """The draft for ``channel``, after checking every rule at once; None means "not given".

    Raises:
        ValidationError: naming every problem (``title``, ``body``, ``sendOn``...).
    """
    problems = check_new_message(channel, title=title, text=text, body=body, send_on=send_on)
    raise_for(problems, subject=f"{_CHANNEL_NAMES.get(channel, channel)} message")
    if channel == INTERNAL:
        return NewInternalMessage(title=title or "", text=text)
    if channel == EMAIL:
        return NewEmailMessage(title=title or "", body=body or "", send_on=send_on)
    return NewSmsMessage(body=body or "", send_on=send_on)


_WRITABLE = ("channel", "title", "text", "body", "sendOn")
_CHANGEABLE = ("title", "text", "body", "sendOn")


def _unknown_keys(data: object, allowed: tuple[str, ...]) -> list[Problem]:
    if not isinstance(data, Mapping):
        return [Problem("", f"must be a JSON object, got {type(data).__name__}")]
    return [Problem(str(key), "is not a field Collect documents here") for key in data if key not in allowed]


def new_message_from_wire(data: Mapping[str, Any]) -> NewMessage:
    """A draft from the wire shape (``{"channel": "email", "title": ..., "sendOn": ...}``).

    No ``channel`` means internal, as in the API. Unknown keys are problems, not silently dropped.
    """
    raise_for(_unknown_keys(data, _WRITABLE), subject="message")
    return new_message(
        data.get("channel", INTERNAL),
        title=data.get("title"),
        text=data.get("text"),
        body=data.get("body"),
        send_on=data.get("sendOn"),
    )


def changes_from_wire(data: Mapping[str, Any]) -> MessageChanges:
    """A `MessageChanges` from the wire shape: an absent key is left alone, ``null`` is sent as null."""
    raise_for(_unknown_keys(data, _CHANGEABLE), subject="message update")
    return MessageChanges(
        title=data.get("title", UNSET),
        text=data.get("text", UNSET),
        body=data.get("body", UNSET),
        send_on=data.get("sendOn", UNSET),
    )
