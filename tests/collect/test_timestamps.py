"""Collect timestamps: the three documented forms in, the canonical ``Z`` form out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from msgrelay.collect.timestamps import format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-21T10:12:46Z", datetime(2026, 1, 21, 10, 12, 46, tzinfo=UTC)),
        ("2026-01-21T10:12:46.120Z", datetime(2026, 1, 21, 10, 12, 46, 120_000, tzinfo=UTC)),
        ("2022-07-04 07:20:06 UTC", datetime(2022, 7, 4, 7, 20, 6, tzinfo=UTC)),
    ],
)
def test_the_three_documented_forms_parse_to_aware_utc(text: str, expected: datetime) -> None:
    """``...Z``, ``....120Z`` and ``YYYY-MM-DD HH:MM:SS UTC`` all give the same kind of value."""
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-01-21T10:12:46Z", "2026-01-21T10:12:46.120Z"])
def test_the_z_forms_round_trip_exactly(text: str) -> None:
    """Seconds and milliseconds come back in the form they went in."""
    assert format_timestamp(parse_timestamp(text)) == text


def test_finer_than_milliseconds_is_not_sent() -> None:
    """The API documents seconds and milliseconds only: a microsecond time goes out truncated."""
    assert format_timestamp(parse_timestamp("2026-01-21T10:12:46.123456Z")) == "2026-01-21T10:12:46.123Z"
    assert format_timestamp(parse_timestamp("2026-01-21T10:12:46.000400Z")) == "2026-01-21T10:12:46Z"


@pytest.mark.parametrize(
    "text", ["2026-01-21T10:12:46+99:99", "2026-01-21T10:12:46+24:00", "2026-01-21T10:12:46-05:60"]
)
def test_an_impossible_offset_is_refused(text: str) -> None:
    """An offset outside ±23:59 is an error, not a silent shift of days."""
    with pytest.raises(ValueError, match="offset"):
        parse_timestamp(text)


def test_the_older_form_is_written_back_as_iso_8601() -> None:
    """The older ``UTC`` suffix form is normalised to the form the API documents today."""
    assert format_timestamp(parse_timestamp("2022-07-04 07:20:06 UTC")) == "2022-07-04T07:20:06Z"


def test_offsets_are_converted_to_utc() -> None:
    """An explicit offset names the same instant in UTC."""
    assert parse_timestamp("2026-02-06T12:00:00+02:00") == datetime(2026, 2, 6, 10, tzinfo=UTC)
    assert parse_timestamp("2026-02-06T05:00:00-0500") == datetime(2026, 2, 6, 10, tzinfo=UTC)


def test_nanoseconds_are_truncated_to_microseconds() -> None:
    """Digits beyond what a datetime can hold are dropped, not rejected."""
    assert parse_timestamp("2026-01-21T10:12:46.123456789Z").microsecond == 123456


def test_a_time_without_zone_reads_as_utc_unless_a_zone_is_required() -> None:
    """Reading is lenient (the API documents UTC); a ``sendOn`` we write must say its zone."""
    assert parse_timestamp("2026-01-21T10:12:46") == datetime(2026, 1, 21, 10, 12, 46, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        parse_timestamp("2026-01-21T10:12:46", require_zone=True)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-01-21", "2026-13-01T00:00:00Z", "2026-01-21T10:12:46 CET"]
)
def test_anything_else_is_refused(text: str) -> None:
    """Dates alone, invalid dates and unknown zone names raise ValueError."""
    with pytest.raises(ValueError, match=r"not an ISO 8601 UTC time|not a valid date"):
        parse_timestamp(text)


def test_formatting_converts_to_utc_and_refuses_naive_datetimes() -> None:
    """An aware datetime in any zone is written in UTC; a naive one names no instant."""
    paris = timezone(timedelta(hours=1))
    assert format_timestamp(datetime(2026, 2, 6, 11, tzinfo=paris)) == "2026-02-06T10:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 2, 6, 10))
