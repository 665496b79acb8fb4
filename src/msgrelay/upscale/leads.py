"""Leads from files and plain mappings: CSV (a header row of wire names) or JSON Lines.

Columns or keys other than the documented lead fields pass through to the vendor unchanged
(``last_name``, ``job_title``...). Every problem is reported at once, by wire path
(``lead_data[3].linkedin``) and by file line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from msgrelay.errors import Problem, ValidationError
from msgrelay.upscale.models import LeadInput

LEAD_FIELDS = (
    "external_prospect_id",
    "linkedin",
    "first_name",
    "lead_company",
    "lead_specified_url",
    "lead_company_website_url",
)


def lead_from_mapping(data: Mapping[str, Any], index: int, problems: list[Problem]) -> LeadInput:
    """A `LeadInput` from a mapping of wire names; type problems are appended to ``problems``.

    Empty strings in optional URL fields count as absent (a CSV cell left blank).
    """
    known: dict[str, Any] = {}
    for name in LEAD_FIELDS:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "external_prospect_id":
            value = str(value)  # JSON ids are often numbers; the API takes strings
        if value is not None and not isinstance(value, str):
            problems.append(
                Problem(f"lead_data[{index}].{name}", f"must be a string, got {type(value).__name__}")
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


def leads_from_mappings(rows: Iterable[Mapping[str, Any]]) -> list[LeadInput]:
    """`LeadInput`s from mappings; one `ValidationError` for every type problem."""
    problems: list[Problem] = []
    leads = [lead_from_mapping(row, i, problems) for i, row in enumerate(rows)]
    if problems:
        raise ValidationError(problems, subject="leads")
    return leads


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ValidationError(Problem("lead_data", "the CSV file has no header row"), subject="leads file")
    missing = [f for f in LEAD_FIELDS[:4] if f not in reader.fieldnames]
    if missing:
        raise ValidationError(
            [Problem(f"lead_data[].{name}", "no such column in the CSV header") for name in missing],
            subject="leads file",
        )
    return [{k: v for k, v in row.items() if k is not None} for row in reader]


def _jsonl_rows(text: str, source: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(f"{source}:{number}", f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(f"{source}:{number}", "each line must be a JSON object"))
            continue
        rows.append(value)
    if problems:
        raise ValidationError(problems, subject="leads file")
    return rows


def read_leads(path: str | Path) -> list[LeadInput]:
    """Leads from a ``.csv`` file or a JSON Lines file (``.jsonl``, ``.ndjson``, ``.json``)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(
            Problem(str(source), f"cannot read the leads file: {exc.strerror}"), subject="leads file"
        ) from None
    rows = _csv_rows(text) if source.suffix.lower() == ".csv" else _jsonl_rows(text, source.name)
    if not rows:
        raise ValidationError(Problem("lead_data", f"{source.name} holds no leads"), subject="leads file")
    return leads_from_mappings(rows)
