"""Leads files as users have them: other encodings, other separators, standard input, file lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from msgrelay import errors
from msgrelay.upscale.leads import CsvHeaderError, load_leads, read_leads
from msgrelay.upscale.models import GenerationRequest, MessageStep
from msgrelay.upscale.validation import check_generation_request

HEADER = "external_prospect_id,linkedin,first_name,lead_company"
ROW = "1,https://www.linkedin.com/in/a,Zoë,Café Müller"


def test_a_latin_1_file_is_one_problem_naming_the_file_and_offering_encoding(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 name the file, the line and --encoding; with the encoding they read."""
    source = tmp_path / "leads.csv"
    source.write_bytes(f"{HEADER}\n{ROW}\n".encode("latin-1"))
    with pytest.raises(errors.ValidationError) as caught:
        read_leads(source)
    text = str(caught.value)
    assert "leads.csv is not UTF-8 text (byte 0xeb on line 2)" in text
    assert "--encoding" in text
    [lead] = read_leads(source, encoding="latin-1")
    assert (lead.first_name, lead.lead_company) == ("Zoë", "Café Müller")


def test_an_unknown_encoding_is_named() -> None:
    """A misspelt --encoding is a problem of that option, not a LookupError."""
    with pytest.raises(errors.ValidationError, match="--encoding: unknown encoding 'latin-9x'"):
        load_leads("-", encoding="latin-9x", stdin=io.BytesIO(b"{}"))


def test_utf_8_with_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; the first column is still external_prospect_id."""
    source = tmp_path / "leads.csv"
    source.write_bytes(f"{HEADER}\n{ROW}\n".encode("utf-8-sig"))
    [lead] = read_leads(source)
    assert lead.external_prospect_id == "1"


@pytest.mark.parametrize(
    "body",
    [
        f"{HEADER}\n{ROW}\n".encode(),
        b'{"external_prospect_id": "1", "linkedin": "https://www.linkedin.com/in/a", '
        b'"first_name": "Z", "lead_company": "C"}\n',
    ],
    ids=["csv", "jsonl"],
)
def test_standard_input_is_read_as_csv_or_json_lines(body: bytes) -> None:
    """``-`` reads standard input; its first character tells JSON Lines from CSV."""
    leads = load_leads("-", stdin=io.BytesIO(body))
    assert leads.name == "stdin"
    assert [lead.external_prospect_id for lead in leads.leads] == ["1"]


@pytest.mark.parametrize(("separator", "hint"), [(";", "--delimiter ';'"), ("\t", "--delimiter tab")])
def test_a_header_in_another_separator_shows_what_was_read_and_suggests_it(
    tmp_path: Path, separator: str, hint: str
) -> None:
    """A ;- or tab-separated header names the missing columns, the header read, the required ones, the fix."""
    source = tmp_path / "leads.csv"
    source.write_text(f"{HEADER.replace(',', separator)}\n{ROW.replace(',', separator)}\n")
    with pytest.raises(CsvHeaderError) as caught:
        read_leads(source)
    text = str(caught.value)
    assert f"header read: {HEADER.replace(',', separator)!r}" in text
    assert "required columns: external_prospect_id, linkedin, first_name, lead_company" in text
    assert hint in text
    [lead] = read_leads(source, delimiter=separator)
    assert lead.lead_company == "Café Müller"


def test_a_header_missing_columns_without_another_separator_suggests_none(tmp_path: Path) -> None:
    """No delimiter hint when the header is comma-separated but simply lacks columns."""
    source = tmp_path / "leads.csv"
    source.write_text("external_prospect_id,linkedin,name\n1,https://x.example,A\n")
    with pytest.raises(CsvHeaderError) as caught:
        read_leads(source)
    assert caught.value.paths == ["lead_data[].first_name", "lead_data[].lead_company"]
    assert "--delimiter" not in str(caught.value)


def test_each_lead_knows_its_file_line_even_after_a_multi_line_cell(tmp_path: Path) -> None:
    """A quoted cell spanning lines does not shift the line numbers of later leads."""
    source = tmp_path / "leads.csv"
    source.write_text(
        f'{HEADER},note\n1,https://www.linkedin.com/in/a,A,C,"two\nlines"\n\n2,ftp://bad,B,C,\n'
    )
    leads = load_leads(source)
    assert leads.lines == [2, 5]
    request = GenerationRequest(
        completion_notification_url="https://hooks.example.net/u",
        automation_tool_customer_id="c",
        automation_tool_campaign_id="c",
        automation_tool_campaign_name="c",
        proposition_company_name="c",
        proposition_company_url="https://c.example",
        message_sequence=[MessageStep(step=1, message_type="connection_request")],
        lead_data=leads.leads,
    )
    [problem] = leads.locate(check_generation_request(request))
    assert str(problem).startswith("lead_data[1].linkedin (leads.csv line 5): must be a valid HTTP")


def test_a_jsonl_type_problem_names_its_line(tmp_path: Path) -> None:
    """A wrongly typed field in JSON Lines carries its line beside its wire path."""
    source = tmp_path / "leads.jsonl"
    source.write_text('\n{"external_prospect_id": "1", "linkedin": 5}\n')
    with pytest.raises(errors.ValidationError) as caught:
        read_leads(source)
    [problem] = caught.value.problems
    assert str(problem) == "lead_data[0].linkedin (leads.jsonl line 2): must be a string, got int"
