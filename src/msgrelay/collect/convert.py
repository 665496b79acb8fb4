"""The cattrs converter of the Collect API: wire JSON ⇄ the classes of `models` and `drafts`.

``configure_converter(conv)`` adds the Collect hooks to any converter made by
`msgrelay._convert.make_converter`; `make_converter` does both. Timestamps use `timestamps`; a message
is chosen by ``channel`` (none means internal, an unknown one gives an `UnknownMessage`); unknown keys
are kept in ``extra`` and written back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import cattrs
import orjson
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.preconf.orjson import OrjsonConverter

from msgrelay import _convert
from msgrelay.collect import message_codec
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
from msgrelay.errors import Problem, ValidationError

__all__ = [
    "OnError",
    "configure_converter",
    "decode_message",
    "decode_messages",
    "decode_request",
    "decode_requests",
    "encode",
    "make_converter",
]

_MESSAGE_RENAMES = message_codec.RENAMES
_KNOWN_MESSAGE_CLASSES: dict[str, type[InternalMessage | EmailMessage | SmsMessage]] = {
    cls.channel: cls for cls in (InternalMessage, EmailMessage, SmsMessage)
}


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    return parse_timestamp(value)


def _structure_optional_datetime(value: Any, _: Any) -> datetime | None:
    return None if value is None else _structure_datetime(value, None)


def _channel_error(value: Any, expected: str | None = None) -> ClassValidationError:
    if expected is None:
        error: Exception = TypeError(f"expected a channel name, got {type(value).__name__}")
    else:
        error = ValueError(f"expected channel {expected!r}, got {value!r}")
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
        return conv.structure(data, cls)

    return structure


_MESSAGE_KEY_ORDER = message_codec.KEY_ORDER


def _with_channel(conv: cattrs.Converter, cls: type[Any]) -> None:
    """``channel`` is the class itself, not a field: drop it on the way in, write it on the way out.

    Keys are written in the documented order, unknown ones last.
    """
    base_structure = conv.get_structure_hook(cls)
    base_unstructure = conv.get_unstructure_hook(cls)
    channel = cls.channel

    def structure(data: Any, _: Any) -> Any:
        if type(data) is dict and "channel" in data:
            if data["channel"] not in (channel, None):
                raise _channel_error(data["channel"], expected=channel)
            data = {key: value for key, value in data.items() if key != "channel"}
        return base_structure(data, cls)

    def unstructure(obj: Any) -> dict[str, Any]:
        fields = {"channel": channel, **base_unstructure(obj)}
        ordered = {key: fields.pop(key) for key in _MESSAGE_KEY_ORDER if key in fields}
        return {**ordered, **fields}

    conv.register_structure_hook(cls, structure)
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

    for cls in _KNOWN_MESSAGE_CLASSES.values():
        _convert.register_open_class(
            conv, cls, renames=_MESSAGE_RENAMES, omit_none=message_codec.OMIT_NONE[cls]
        )
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
    conv.register_structure_hook(
        Contact | None, lambda value, _: None if value is None else conv.structure(value, Contact)
    )
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

#: Called with ``(wire path, message)`` when a body breaks the contract; returns the error to raise.
OnError = Callable[[str, str], Exception]


def _input_error(path: str, message: str) -> Exception:
    return ValidationError([Problem(path, message)], subject="Collect JSON")


def _decode(data: Any, kind: Any, on_error: OnError) -> Any:
    try:
        return _CONVERTER.structure(data, kind)
    except _convert.STRUCTURE_ERRORS as exc:
        if isinstance(exc, TypeError | ValueError):
            raise on_error("", str(exc)) from None
        path, message = _convert.first_problem(exc)  # wire names: createdAt, _id
        raise on_error(path, message) from None


def decode_message(data: Any, *, on_error: OnError = _input_error) -> Message:
    """One wire message as its typed class.

    Args:
        data: the parsed JSON object.
        on_error: builds the error for a body that breaks the contract, from its wire path and a
            message; by default a `ValidationError` (the JSON was input).
    """
    return cast(Message, _decode(data, Message, on_error))


def decode_messages(data: Any, *, on_error: OnError = _input_error) -> list[Message]:
    """A bare array of wire messages, in the order received.

    Args:
        data: the parsed JSON array, or its JSON bytes (faster: messages of the documented shape are
            decoded straight into their classes, see `message_codec`).
        on_error: as for `decode_message`.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return list(message_codec.decode_messages(data))
        except message_codec.OffShapeError:
            pass
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise on_error("", f"body is not JSON ({exc.msg})") from None
    if type(data) is not list:
        raise on_error("", f"expected an array of messages, got {type(data).__name__}")
    return cast(list[Message], _decode(data, list[Message], on_error))


def decode_request(data: Any, *, on_error: OnError = _input_error) -> CollectRequest:
    """One wire request (a summary from the list, or the full object)."""
    return cast(CollectRequest, _decode(data, CollectRequest, on_error))


def decode_requests(data: Any, *, on_error: OnError = _input_error) -> list[CollectRequest]:
    """A bare array of wire requests (one page of the list)."""
    if type(data) is not list:
        raise on_error("", f"expected an array of requests, got {type(data).__name__}")
    return cast(list[CollectRequest], _decode(data, list[CollectRequest], on_error))


def encode(value: Any) -> Any:
    """Wire JSON of a message, a draft, changes, a request, or a list of them."""
    if type(value) is list:
        return [_encode_one(item) for item in value]
    return _encode_one(value)


def _encode_one(value: Any) -> Any:
    fast = _ENCODERS.get(type(value))
    if fast is not None and not value.extra:
        return fast(value)
    return _CONVERTER.unstructure(value)


_ENCODERS = message_codec.ENCODERS
