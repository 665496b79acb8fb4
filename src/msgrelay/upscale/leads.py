"""Leads from files and plain mappings: CSV (a header row of wire names) or JSON Lines.

Columns or keys other than the documented lead fields pass through to the vendor unchanged
(``last_name``, ``job_title``...). Every problem is reported at once (up to `MAX_PROBLEMS`), by wire
path (``lead_data[3].linkedin``) and by file line (``leads.csv line 5``).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import orjson

from msgrelay.errors import MAX_PROBLEMS, Problem, ValidationError
from msgrelay.upscale.models import LeadInput

__all__ = [
    "LEAD_FIELDS",
    "REQUIRED_COLUMNS",
    "STDIN",
    "CsvHeaderError",
    "LeadsFile",
    "lead_from_mapping",
    "leads_from_mappings",
    "load_leads",
    "read_leads",
]

LEAD_FIELDS = (
    "external_prospect_id",
    "linkedin",
    "first_name",
    "lead_company",
    "lead_specified_url",
    "lead_company_website_url",
)
#: The columns a CSV header must name (``--help`` lists them too).
REQUIRED_COLUMNS = LEAD_FIELDS[:4]
#: The file name that means standard input (``--leads -``).
STDIN = "-"
_STDIN_NAME = "stdin"
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class CsvHeaderError(ValidationError):
    """A CSV header lacks required columns. The text shows the header read, the required columns and,
    when the file looks separated by another character, which one.

    Attributes:
        header: the header line as read.
        delimiter: the separator the header seems to use, when it is not the one given.
    """

    def __init__(self, problems: list[Problem], *, header: str, delimiter: str | None, source: str) -> None:
        self.header = header
        self.delimiter = delimiter
        self.source = source
        super().__init__(problems, subject=f"leads file {source}")

    def _format(self) -> str:
        hint = ""
        if self.delimiter is not None:
            shown = "tab" if self.delimiter == "\t" else repr(self.delimiter)
            option = "tab" if self.delimiter == "\t" else repr(self.delimiter)
            hint = f"; it looks {shown}-separated: pass --delimiter {option}"
        return (
            super()._format()
            + f"\n  header read: {self.header[:200]!r}; required columns: {', '.join(REQUIRED_COLUMNS)}"
            + hint
        )


@attrs.frozen
class LeadsFile:
    """Leads read from a file, with where each came from.

    Attributes:
        name: the file's name as the user gave it (``stdin`` for ``-``).
        leads: the leads, in file order.
        lines: the line on which each lead starts, by index.
    """

    name: str
    leads: list[LeadInput]
    lines: list[int]

    def locate(self, problems: Iterable[Problem]) -> list[Problem]:
        """``problems`` with each ``lead_data[i]...`` one marked with the file line of lead ``i``."""
        return [self._locate(p) for p in problems]

    def _locate(self, problem: Problem) -> Problem:
        if problem.where or not problem.path.startswith("lead_data["):
            return problem
        index_text = problem.path[len("lead_data[") :].partition("]")[0]
        if not index_text.isdigit() or int(index_text) >= len(self.lines):
            return problem
        return attrs.evolve(problem, where=f"{self.name} line {self.lines[int(index_text)]}")


def lead_from_mapping(
    data: Mapping[str, Any], index: int, problems: list[Problem], *, where: str = ""
) -> LeadInput:
    """A `LeadInput` from a mapping of wire names; type problems are appended to ``problems``.

    Empty strings in optional URL fields count as absent (a CSV cell left blank).

    Args:
        where: the place in a file this mapping came from (``leads.jsonl line 3``), for problems.
    """
    known: dict[str, Any] = {}
    for name in LEAD_FIELDS:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "external_prospect_id":
            value = str(value)  # JSON ids are often numbers; the API takes strings
        if value is not None and not isinstance(value, str):
            problems.append(
                Problem(f"lead_data[{index}].{name}", f"must be a string, got {type(value).__name__}", where)
            )
            value = None
        if name in {"lead_specified_url", "lead_company_website_url"} and not (value or "").strip():
            value = None
        known[name] = value
    extra = {k: v for k, v in data.items() if k not in LEAD_FIELDS and v not in (None, "")}
    return LeadInput(
        external_prospect_id=known["external_prospect_id"] or "",
        linkedin=known["linkedin"] or "",
        first_name=known["first_name"] or "",
        lead_company=known["lead_company"] or "",
        lead_specified_url=known["lead_specified_url"],
        lead_company_website_url=known["lead_company_website_url"],
        extra=extra,
    )


def _leads(rows: Iterable[Mapping[str, Any]], places: Sequence[str] = ()) -> list[LeadInput]:
    problems: list[Problem] = []
    more = 0
    leads = []
    for index, row in enumerate(rows):
        where = places[index] if index < len(places) else ""
        leads.append(lead_from_mapping(row, index, problems, where=where))
        if len(problems) > MAX_PROBLEMS:  # keep memory bounded on a hostile input: count the rest
            more += len(problems) - MAX_PROBLEMS
            del problems[MAX_PROBLEMS:]
    if problems:
        raise ValidationError(problems, subject="leads", more=more)
    return leads


def leads_from_mappings(rows: Iterable[Mapping[str, Any]]) -> list[LeadInput]:
    """`LeadInput`s from mappings; one `ValidationError` for every type problem."""
    return _leads(rows)


def _other_delimiter(header: str, delimiter: str) -> str | None:
    """The separator a header seems to use instead of ``delimiter`` (``;`` from a European Excel)."""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|") if d != delimiter}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > header.count(delimiter) else None


def _csv_rows(text: str, source: str, delimiter: str) -> tuple[list[dict[str, Any]], list[int]]:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise ValidationError(
            Problem("", f"{source}: not a readable CSV file ({exc})"), subject="leads file"
        ) from None
    if not fieldnames:
        raise ValidationError(Problem("lead_data", "the CSV file has no header row"), subject="leads file")
    missing = [f for f in REQUIRED_COLUMNS if f not in fieldnames]
    if missing:
        header = text.split("\n", 1)[0].rstrip("\r")
        raise CsvHeaderError(
            [Problem(f"lead_data[].{name}", "no such column in the CSV header") for name in missing],
            header=header,
            delimiter=_other_delimiter(header, delimiter),
            source=source,
        )
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        for row in reader:
            # line_num is where the record ended; a quoted cell may span lines, so count them back.
            span = sum(str(value).count("\n") for value in row.values() if isinstance(value, str))
            lines.append(reader.line_num - span)
            rows.append({k: v for k, v in row.items() if k is not None})
    except csv.Error as exc:
        raise ValidationError(
            Problem("", f"{source} line {reader.line_num}: not readable as CSV ({exc})"), subject="leads file"
        ) from None
    return rows, lines


def _jsonl_rows(text: str, source: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    more = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problem = Problem(f"{source}:{number}", f"not valid JSON ({exc.msg})")
        else:
            if isinstance(value, dict):
                rows.append(value)
                lines.append(number)
                continue
            problem = Problem(f"{source}:{number}", "each line must be a JSON object")
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)
        else:
            more += 1
    if problems:
        raise ValidationError(problems, subject="leads file", more=more)
    return rows, lines


def _decode(data: bytes, source: str, encoding: str | None) -> str:
    name = encoding or "utf-8-sig"  # UTF-8, with or without the BOM Excel writes
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValidationError(
            Problem("--encoding", f"unknown encoding {encoding!r}; try utf-8, cp1252 or latin-1"),
            subject="leads file",
        ) from None
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        fix = (
            "pass --encoding with the file's encoding (cp1252 or latin-1 for most spreadsheets saved "
            "on Windows) or save it as UTF-8"
            if encoding is None
            else "check the --encoding given"
        )
        raise ValidationError(
            Problem("", f"{source} is not {encoding or 'UTF-8'} text (byte 0x{bad} on line {line}); {fix}"),
            subject="leads file",
        ) from None


def _looks_like_jsonl(text: str) -> bool:
    return text.lstrip().startswith("{")


def load_leads(
    path: str | Path,
    *,
    encoding: str | None = None,
    delimiter: str = ",",
    stdin: BinaryIO | None = None,
) -> LeadsFile:
    """Leads from a ``.csv`` file or a JSON Lines file (``.jsonl``, ``.ndjson``, ``.json``), with lines.

    Args:
        path: the file; ``-`` reads standard input, whose format is told by its first character
            (``{``: JSON Lines, else CSV).
        encoding: the file's text encoding (default UTF-8, with or without a byte-order mark).
        delimiter: the CSV separator.
        stdin: what ``-`` reads (default ``sys.stdin.buffer``).
    """
    if str(path) == STDIN:
        source, data = _STDIN_NAME, (stdin or sys.stdin.buffer).read()
        csv_format = None
    else:
        file = Path(path)
        source = file.name
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ValidationError(
                Problem(str(file), f"cannot read the leads file: {exc.strerror}"), subject="leads file"
            ) from None
        suffix = file.suffix.lower()
        csv_format = True if suffix == ".csv" else False if suffix in _JSONL_SUFFIXES else None
    text = _decode(data, source, encoding)
    if csv_format is None:
        csv_format = not _looks_like_jsonl(text)
    rows, lines = _csv_rows(text, source, delimiter) if csv_format else _jsonl_rows(text, source)
    if not rows:
        raise ValidationError(Problem("lead_data", f"{source} holds no leads"), subject="leads file")
    places = [f"{source} line {n}" for n in lines]
    return LeadsFile(name=source, leads=_leads(rows, places), lines=lines)


def read_leads(path: str | Path, *, encoding: str | None = None, delimiter: str = ",") -> list[LeadInput]:
    """Leads from a ``.csv`` file or a JSON Lines file (``.jsonl``, ``.ndjson``, ``.json``); `load_leads`
    with the leads only."""
    return load_leads(path, encoding=encoding, delimiter=delimiter).leads
