"""The cattrs converter of the Collect API: wire JSON ⇄ the classes of `models` and `drafts`.

``configure_converter(conv)`` adds the Collect hooks to any converter made by
`msgrelay._convert.make_converter`; `make_converter` does both. Timestamps use `timestamps`; a message
is chosen by ``channel`` (none means internal, an unknown one gives an `UnknownMessage`); unknown keys
are kept in ``extra`` and written back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.preconf.orjson import OrjsonConverter

from msgrelay import _convert
from msgrelay.collect.drafts import MessageChanges, NewEmailMessage, NewInternalMessage, NewSmsMessage
from msgrelay.collect.models import (
    INTERNAL,
    CollectRequest,
    Contact,
    EmailMessage,
    InternalMessage,
    Message,
    SmsMessage,
    UnknownMessage,
)
from msgrelay.collect.timestamps import format_timestamp, parse_timestamp
from msgrelay.collect.validation import UNSET

__all__ = [
    "configure_converter",
    "decode_message",
    "decode_messages",
    "decode_request",
    "encode",
    "make_converter",
]

_MESSAGE_RENAMES = {
    "request_id": "requestId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "send_on": "sendOn",
}
_KNOWN_MESSAGE_CLASSES: dict[str, type[InternalMessage | EmailMessage | SmsMessage]] = {
    cls.channel: cls for cls in (InternalMessage, EmailMessage, SmsMessage)
}


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    return parse_timestamp(value)


def _structure_optional_datetime(value: Any, _: Any) -> datetime | None:
    return None if value is None else _structure_datetime(value, None)


def _channel_error(value: Any) -> ClassValidationError:
    error = TypeError(f"expected a channel name, got {type(value).__name__}")
    error.__notes__ = [AttributeValidationNote("Structuring message @ attribute channel", "channel", str)]
    return ClassValidationError("While structuring a message", [error], dict)


def _message_structurer(conv: cattrs.Converter) -> Callable[[Any, Any], Message]:
    def structure(data: Any, _: Any) -> Message:
        if type(data) is not dict:
            raise TypeError(f"expected a message object, got {type(data).__name__}")
        # Messages of the older, internal-only docs carry no channel.
        channel = data.get("channel") or INTERNAL
        if type(channel) is not str:
            raise _channel_error(channel)
        cls = _KNOWN_MESSAGE_CLASSES.get(channel)
        if cls is None:
            return UnknownMessage(channel=channel, data=data)
        fields = {key: value for key, value in data.items() if key != "channel"}
        return conv.structure(fields, cls)  # type: ignore[return-value]

    return structure


def _with_channel(conv: cattrs.Converter, cls: type[Any]) -> None:
    """Write ``channel`` first: it is the class itself, not one of its fields."""
    base = conv.get_unstructure_hook(cls)
    channel = cls.channel

    def unstructure(obj: Any) -> dict[str, Any]:
        return {"channel": channel, **base(obj)}

    conv.register_unstructure_hook(cls, unstructure)


def _unstructure_draft(obj: NewInternalMessage | NewEmailMessage | NewSmsMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"channel": obj.channel}
    if not isinstance(obj, NewSmsMessage):
        out["title"] = obj.title
    if isinstance(obj, NewInternalMessage):
        if obj.text is not None:
            out["text"] = obj.text
        return out
    out["body"] = obj.body
    if obj.send_on is not None:
        out["sendOn"] = format_timestamp(obj.send_on)
    return out


def _unstructure_changes(obj: MessageChanges) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if obj.title is not UNSET:
        out["title"] = obj.title
    if obj.text is not UNSET:
        out["text"] = obj.text
    if obj.body is not UNSET:
        out["body"] = obj.body
    if obj.send_on is not UNSET:
        out["sendOn"] = format_timestamp(obj.send_on)
    return out


def configure_converter(conv: cattrs.Converter) -> None:
    """Register every Collect hook on ``conv`` (made by `msgrelay._convert.make_converter`)."""
    # Field hooks first: the class hooks below are generated against them.
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(datetime | None, _structure_optional_datetime)
    conv.register_unstructure_hook(datetime, format_timestamp)

    _convert.register_open_class(
        conv, InternalMessage, renames=_MESSAGE_RENAMES, omit_none=frozenset({"title", "updated_at"})
    )
    optional = frozenset({"title", "body", "status", "send_on", "updated_at"})
    _convert.register_open_class(conv, EmailMessage, renames=_MESSAGE_RENAMES, omit_none=optional)
    _convert.register_open_class(conv, SmsMessage, renames=_MESSAGE_RENAMES, omit_none=optional)
    for cls in _KNOWN_MESSAGE_CLASSES.values():
        _with_channel(conv, cls)
    conv.register_unstructure_hook(UnknownMessage, lambda obj: dict(obj.data))
    structure_message = _message_structurer(conv)
    conv.register_structure_hook_func(lambda t: t == Message, structure_message)
    conv.register_structure_hook(UnknownMessage, structure_message)

    _convert.register_open_class(
        conv,
        Contact,
        renames={"id": "_id", "first_name": "firstName", "last_name": "lastName"},
        omit_none=frozenset({"email", "first_name", "last_name", "company"}),
    )
    conv.register_structure_hook(Contact | None, lambda v, _: None if v is None else conv.structure(v, Contact))
    _convert.register_open_class(
        conv,
        CollectRequest,
        renames={
            "id": "_id",
            "campaign_id": "campaignId",
            "created_at": "createdAt",
            "due_date": "dueDate",
            "portal_url": "portalUrl",
        },
        omit_none=frozenset({"campaign_id", "status", "created_at", "due_date", "portal_url", "contact"}),
    )

    for draft in (NewInternalMessage, NewEmailMessage, NewSmsMessage):
        conv.register_unstructure_hook(draft, _unstructure_draft)
    conv.register_unstructure_hook(MessageChanges, _unstructure_changes)


def make_converter() -> OrjsonConverter:
    """A converter for the Collect API: the shared strict base plus `configure_converter`."""
    conv = _convert.make_converter()
    configure_converter(conv)
    return conv


_CONVERTER = make_converter()


def decode_message(data: Any) -> Message:
    """One wire message as its typed class.

    Raises:
        cattrs.BaseValidationError: the object breaks the contract (`_convert.error_paths` names where).
    """
    return _CONVERTER.structure(data, Message)  # type: ignore[arg-type]


def decode_messages(data: Any) -> list[Message]:
    """A bare array of wire messages, in the order received."""
    return _CONVERTER.structure(data, list[Message])  # type: ignore[valid-type]


def decode_request(data: Any) -> CollectRequest:
    """One wire request (summary or full)."""
    return _CONVERTER.structure(data, CollectRequest)


def encode(value: Any) -> Any:
    """Wire JSON (a dict, a list, a string...) of a message, a draft, changes, a request or a list."""
    return _CONVERTER.unstructure(value)
