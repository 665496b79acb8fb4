"""Collect timestamps: three wire forms in, one canonical ``Z`` form out.

The docs show ``2026-01-21T10:12:46Z``, ``2026-01-21T10:12:46.120Z`` and the older
``2022-07-04 07:20:06 UTC`` for the same fields (contract §5). All three parse to a timezone-aware UTC
`datetime`. On the way out a datetime is written in the form the current docs use: seconds with ``Z``,
plus milliseconds when the value has them, so ``...Z`` and ``....120Z`` survive a round trip exactly.
The older form is written back as ISO 8601, which is what the API documents today.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_timestamp", "parse_timestamp"]

_PATTERN = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<zone>Z|z| UTC|[+-]\d{2}:?\d{2})?"
)


def parse_timestamp(text: str, *, require_zone: bool = False) -> datetime:
    """A Collect timestamp as a timezone-aware UTC datetime.

    Args:
        text: ``...Z``, ``....mmmZ``, ``YYYY-MM-DD HH:MM:SS UTC``, or ISO 8601 with an offset.
        require_zone: refuse a time without ``Z``, ``UTC`` or an offset. Reading is lenient (the API
            documents every timestamp as UTC); writing a ``sendOn`` is not.

    Raises:
        ValueError: the text is not one of those forms, or names no zone when one is required.
    """
    if _is_plain_utc(text):
        # The forms the API sends today; fromisoformat reads them (Z included) at C speed. On
        # failure the full parser below says what is wrong in our words.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 UTC time: {text!r}")
    zone = match["zone"]
    if zone is None and require_zone:
        raise ValueError(f"no time zone in {text!r}; end it with Z for UTC")
    # Beyond microseconds Python has no precision to keep; the extra digits are dropped.
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        naive = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}")
    except ValueError:
        raise ValueError(f"not a valid date and time: {text!r}") from None
    offset = timedelta(0)
    if zone is not None and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"not a valid UTC offset in {text!r}")
        offset = timedelta(hours=hours, minutes=minutes)
        if zone[0] == "-":
            offset = -offset
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 names an instant before year 1
        raise ValueError(f"out of the range of dates (years 1 to 9999 in UTC): {text!r}") from None


def _is_plain_utc(text: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SSZ`` or ``YYYY-MM-DDTHH:MM:SS.mmmZ`` exactly (digits checked by the parse)."""
    size = len(text)
    return (
        (size == 20 or (size == 24 and text[19] == "."))
        and text[-1] == "Z"
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
    )


def format_timestamp(value: datetime) -> str:
    """The wire form of a timezone-aware datetime: ``2026-01-21T10:12:46Z`` or ``...46.120Z``.

    Raises:
        ValueError: ``value`` is naive, so which instant it names is unknown.
    """
    if value.tzinfo is UTC:  # what decoding gives; isoformat's with the Z, at a third of its cost
        v = value
        seconds = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        return f"{seconds}.{v.microsecond // 1000:03d}Z" if v.microsecond >= 1000 else f"{seconds}Z"
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a naive datetime names no instant: {value.isoformat()}; give it tzinfo=UTC")
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    micro = utc.microsecond
    # The API documents seconds and milliseconds only; finer digits are dropped, not sent.
    spec = "milliseconds" if micro >= 1000 else "seconds"
    # isoformat is several times faster than strftime, which matters across a long message list.
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
