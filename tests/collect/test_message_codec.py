"""Message lists decoded from bytes and messages encoded on the fast path: exactly what the converter
gives, whatever the shape."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from msgrelay.collect import convert, message_codec
from msgrelay.collect.models import EmailMessage, InternalMessage, SmsMessage
from msgrelay.collect.timestamps import format_timestamp
from msgrelay.errors import ValidationError


def _messages() -> list[dict[str, Any]]:
    return [
        {
            "id": "m1",
            "requestId": "r",
            "channel": "internal",
            "title": "Note",
            "text": "Hello",
            "createdAt": "2026-02-06T09:00:00Z",
            "updatedAt": "2026-02-06T09:00:01.120Z",
        },
        {
            "id": "m2",
            "requestId": "r",
            "channel": "email",
            "title": "Due",
            "body": "Please",
            "status": "pending",
            "sendOn": "2026-02-07T10:00:00Z",
            "createdAt": "2026-02-06T09:00:00.001Z",
        },
        {"id": "m3", "requestId": "r", "channel": "sms", "body": None, "createdAt": "2026-02-06T09:00:00Z"},
    ]


def _both_ways(wire: list[dict[str, Any]]) -> list[Any]:
    """The messages from bytes, checked equal to those from the parsed list (the converter)."""
    from_bytes = convert.decode_messages(orjson.dumps(wire))
    assert from_bytes == convert.decode_messages(copy.deepcopy(wire))
    return from_bytes


def test_documented_messages_are_decoded_from_bytes_in_one_typed_pass() -> None:
    """The fast path itself decodes the documented shapes into the same classes as the converter."""
    fast = message_codec.decode_messages(orjson.dumps(_messages()))
    assert [type(m) for m in fast] == [InternalMessage, EmailMessage, SmsMessage]
    assert fast == _both_ways(_messages())
    assert fast[0].updated_at == datetime(2026, 2, 6, 9, 0, 1, 120000, tzinfo=UTC)
    assert fast[2].extra == {}


@pytest.mark.parametrize(
    ("index", "change"),
    [
        (0, {"channel": None}),  # the older internal-only form
        (1, {"channel": "whatsapp"}),  # an unknown channel: kept whole
        (2, {"priority": 1}),  # an unknown key: into extra
        (0, {"createdAt": "2022-07-04 07:20:06 UTC"}),  # the older timestamp form
        (1, {"sendOn": "2026-02-07T11:00:00+01:00"}),  # an offset: converted to UTC
        (2, {"createdAt": "2026-01-21T10:12:46.123456789Z"}),  # nanoseconds: truncated
    ],
)
def test_messages_off_the_documented_shape_decode_as_from_the_parsed_list(
    index: int, change: dict[str, Any]
) -> None:
    """Other channels, keys and timestamp forms decode from bytes exactly as from a parsed list."""
    wire = _messages()
    wire[index].update(change)
    if change.get("channel", "") is None:
        del wire[index]["channel"]
    _both_ways(wire)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"createdAt": 5}, "[1].createdAt"),
        ({"createdAt": "2026-02-30T09:00:00Z"}, "[1].createdAt"),
        ({"requestId": None}, "[1].requestId"),
    ],
)
def test_a_bad_message_in_bytes_is_named_by_its_wire_path(change: dict[str, Any], path: str) -> None:
    """Bytes the fast path refuses are refused by the converter, naming the field."""
    wire = _messages()
    wire[1].update(change)
    with pytest.raises(ValidationError) as caught:
        convert.decode_messages(orjson.dumps(wire))
    assert caught.value.paths == [path]


def test_bytes_that_are_not_json_are_refused_in_one_line() -> None:
    """A body that is not JSON is the caller's error, never a parser exception."""
    with pytest.raises(ValidationError, match="not JSON"):
        convert.decode_messages(b"[{")


def test_the_fast_encoders_write_what_the_converter_writes() -> None:
    """Same keys, same order, same strings; a message with extra keys goes through the converter."""
    converter = convert.make_converter()
    decoded = _both_ways(_messages())
    with_extra = convert.decode_messages([{**_messages()[0], "priority": 1}])[0]
    for message in [*decoded, with_extra]:
        expected = converter.unstructure(message)
        assert list(convert.encode(message).items()) == list(expected.items())
    written = _messages()
    del written[2]["body"]  # a null optional field is left out
    assert convert.encode(decoded) == written
    assert all(type(message) in message_codec.ENCODERS for message in decoded)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 21, 10, 12, 46, tzinfo=UTC),
        datetime(2026, 1, 21, 10, 12, 46, 120000, tzinfo=UTC),
        datetime(2026, 1, 21, 10, 12, 46, 999, tzinfo=UTC),  # below a millisecond: not sent
        datetime(12, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),  # a year before 1000
        datetime(2026, 1, 21, 11, 12, 46, 5000, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_timestamps_are_written_as_isoformat_writes_them(value: datetime) -> None:
    """The formatting shortcut for UTC gives exactly the ``...Z`` / ``....mmmZ`` of isoformat."""
    utc = value.astimezone(UTC).replace(tzinfo=None)
    spec = "milliseconds" if utc.microsecond >= 1000 else "seconds"
    assert format_timestamp(value) == utc.isoformat(timespec=spec) + "Z"
