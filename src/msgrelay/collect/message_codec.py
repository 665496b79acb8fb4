"""Collect messages of the documented shape, decoded from JSON bytes and encoded to wire JSON fast.

A message list can be long and the user reads every field, so `collect.convert` routes the common
case here. Decoding: msgspec decodes the array into Structs of each channel's wire shape (a tagged
union on ``channel``) in C, and a loop fills each message class's slots from them, timestamps read by
`parse_timestamp` as on every other path. Encoding: one generated function
per class writes the wire object in the documented key order.

Anything else (a message without ``channel``, an unknown channel or key, a wrong type, a timestamp
`parse_timestamp` refuses; a message with ``extra`` to encode) raises `OffShapeError` or is handed back to the
converter, whose result this module reproduces exactly for the shapes it takes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
import msgspec

from msgrelay import _convert
from msgrelay.collect.models import EmailMessage, InternalMessage, SmsMessage
from msgrelay.collect.timestamps import format_timestamp, parse_timestamp

__all__ = ["ENCODERS", "KEY_ORDER", "RENAMES", "OffShapeError", "decode_messages"]

KnownMessage = InternalMessage | EmailMessage | SmsMessage

#: Attribute → wire key where they differ.
RENAMES = {
    "request_id": "requestId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "send_on": "sendOn",
}
#: The order the docs list a message's keys in; unknown keys follow, as received.
KEY_ORDER = (
    "id",
    "requestId",
    "channel",
    "title",
    "text",
    "body",
    "status",
    "sendOn",
    "createdAt",
    "updatedAt",
)
#: Attributes left out of the wire object when None, by class.
OMIT_NONE: dict[type, frozenset[str]] = {
    InternalMessage: frozenset({"title", "updated_at"}),
    EmailMessage: frozenset({"title", "body", "status", "send_on", "updated_at"}),
    SmsMessage: frozenset({"title", "body", "status", "send_on", "updated_at"}),
}


class OffShapeError(Exception):
    """The body is not of the shape this module decodes: decode it the general way."""


def _fields(cls: type[KnownMessage]) -> list[attrs.Attribute[Any]]:
    """``cls``'s attributes but ``extra``, their types resolved."""
    attrs.resolve_types(cls)
    return [a for a in attrs.fields(cls) if a.name != _convert.EXTRA]


def _is_timestamp(attribute: attrs.Attribute[Any]) -> bool:
    return attribute.type in (datetime, datetime | None)


def _wire_struct(cls: type[KnownMessage]) -> type[msgspec.Struct]:
    """A Struct of ``cls``'s wire object: its keys renamed, no others, tagged by its channel."""
    specs: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for attribute in _fields(cls):
        kind: Any = attribute.type
        if kind is datetime:
            kind = str  # parsed by `parse_timestamp` itself, so every form reads exactly as it does
        elif kind == datetime | None:
            kind = str | None
        if attribute.default is attrs.NOTHING:
            specs.append((attribute.name, kind))
        else:
            specs.append((attribute.name, kind, attribute.default))
    specs.sort(key=lambda spec: len(spec) == 3)  # msgspec wants required fields first
    return msgspec.defstruct(
        f"{cls.__name__}Wire",
        specs,
        rename=RENAMES,
        kw_only=True,
        forbid_unknown_fields=True,
        tag_field="channel",
        tag=cls.channel,
        gc=False,
    )


_CLASSES: tuple[type[KnownMessage], ...] = (InternalMessage, EmailMessage, SmsMessage)
_STRUCTS = {_wire_struct(cls): cls for cls in _CLASSES}
_INTERNAL_WIRE, _EMAIL_WIRE, _SMS_WIRE = _STRUCTS
_DECODER = msgspec.json.Decoder(list[_INTERNAL_WIRE | _EMAIL_WIRE | _SMS_WIRE])  # type: ignore[valid-type]


def _builder(struct: type[msgspec.Struct], cls: type[KnownMessage]) -> Callable[[Any], KnownMessage]:
    """A function building ``cls`` from its wire Struct without ``__init__`` (see `slot_setters`)."""
    setters = _convert.slot_setters(cls)
    timestamps = {a.name for a in _fields(cls) if _is_timestamp(a)}
    lines = ["def build(w):", "    message = new(cls)"]
    for name in setters:
        if name == _convert.EXTRA:
            value = "{}"
        elif name in timestamps:
            value = f"None if w.{name} is None else parse(w.{name})"
        else:
            value = f"w.{name}"
        lines.append(f"    set_{name}(message, {value})")
    lines.append("    return message")
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "cls": cls,
        "parse": parse_timestamp,
        **{f"set_{name}": setter for name, setter in setters.items()},
    }
    exec("\n".join(lines), namespace)  # generated from attribute names only: no vendor text
    build: Callable[[Any], KnownMessage] = namespace["build"]
    return build


_BUILDERS = {struct: _builder(struct, cls) for struct, cls in _STRUCTS.items()}


def decode_messages(body: bytes | bytearray | memoryview | str) -> list[KnownMessage]:
    """The messages of a JSON array of documented-shape messages; `OffShapeError` for anything else."""
    try:
        wires: list[Any] = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        raise OffShapeError from None
    builders = _BUILDERS
    # The collector is off while the messages pile up (tracked objects, none in a cycle).
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index, wire in enumerate(wires):
            wires[index] = builders[type(wire)](wire)
    except ValueError:  # a timestamp `parse_timestamp` refuses: the general path names it
        raise OffShapeError from None
    finally:
        if enabled:
            gc.enable()
    return wires


def _encoder(cls: type[KnownMessage]) -> Callable[[Any], dict[str, Any]]:
    """A function writing a ``cls`` without ``extra`` as its wire object, keys in `KEY_ORDER`."""
    names = {RENAMES.get(a.name, a.name): a.name for a in _fields(cls)}
    timestamps = {a.name for a in _fields(cls) if _is_timestamp(a)}
    omit = OMIT_NONE[cls]
    lines = ["def encode(m):"]
    lines.append("    out = {}")
    for key in KEY_ORDER:
        if key == "channel":
            lines.append("    out['channel'] = channel")
        elif key in names:
            name = names[key]
            value = f"fmt(m.{name})" if name in timestamps else f"m.{name}"
            if name in omit:
                lines.append(f"    if m.{name} is not None:")
                lines.append(f"        out[{key!r}] = {value}")
            else:
                lines.append(f"    out[{key!r}] = {value}")
    lines.append("    return out")
    namespace: dict[str, Any] = {"channel": cls.channel, "fmt": format_timestamp}
    exec("\n".join(lines), namespace)  # generated from attribute and key names only: no vendor text
    encode: Callable[[Any], dict[str, Any]] = namespace["encode"]
    return encode


#: The wire object of a message of each known class whose ``extra`` is empty.
ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {cls: _encoder(cls) for cls in _CLASSES}
