"""Local validation of generation requests: every rule, every problem at once, nothing sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay import errors
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.client import UpscaleClient
from msgrelay.upscale.leads import read_leads
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep
from msgrelay.upscale.validation import check_generation_request, validate_secure_request_id


def lead(index: int, **changes: Any) -> LeadInput:
    base = LeadInput(
        external_prospect_id=f"lead-{index}",
        linkedin=f"https://www.linkedin.com/in/person-{index}",
        first_name=f"Person{index}",
        lead_company=f"Company {index}",
    )
    return attrs.evolve(base, **changes)


def valid_request(**changes: Any) -> GenerationRequest:
    base = GenerationRequest(
        completion_notification_url="https://hooks.example.net/upscale?token=t",
        automation_tool_customer_id="tenant-1",
        automation_tool_campaign_id="camp-1",
        automation_tool_campaign_name="Spring",
        proposition_company_name="Ledgerly",
        proposition_company_url="https://ledgerly.example.com",
        message_sequence=[MessageStep(step=1, message_type="connection_request")],
        lead_data=[lead(0), lead(1), lead(2)],
    )
    return attrs.evolve(base, **changes)


def paths(request: GenerationRequest) -> list[str]:
    return [p.path for p in check_generation_request(request)]


def test_a_valid_request_has_no_problems() -> None:
    """The baseline passes."""
    assert paths(valid_request()) == []


def test_four_mistakes_are_reported_together_and_nothing_is_sent(sandbox: Sandbox) -> None:
    """share_material without material_link, first step 2, an ftp:// company URL, a blank first_name on
    the third lead: one ValidationError names all four, and no request leaves the process."""
    request = valid_request(
        proposition_company_url="ftp://ledgerly.example.com",
        message_sequence=[
            MessageStep(step=2, message_type="connection_request"),
            MessageStep(step=3, message_type="share_material"),
        ],
        lead_data=[lead(0), lead(1), lead(2, first_name="  ")],
    )
    with (
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client,
        pytest.raises(errors.ValidationError) as caught,
    ):
        client.request_generation(request)
    assert sorted(caught.value.paths) == sorted(
        ["proposition_company_url", "message_sequence[0].step", "material_link", "lead_data[2].first_name"]
    )
    assert "4 problems" in str(caught.value)
    assert sandbox.app.requests == []


@pytest.mark.parametrize(
    "field",
    [
        "completion_notification_url",
        "automation_tool_customer_id",
        "automation_tool_campaign_id",
        "automation_tool_campaign_name",
        "proposition_company_name",
        "proposition_company_url",
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_required_top_level_fields_may_not_be_blank(field: str, blank: str) -> None:
    """Every mandatory top-level field is required and non-blank, in the vendor's wording."""
    problems = check_generation_request(valid_request(**{field: blank}))
    assert [(p.path, p.message) for p in problems] == [(field, "is required but was missing or blank")]


@pytest.mark.parametrize("field", ["proposition_company_url", "completion_notification_url", "material_link"])
@pytest.mark.parametrize("url", ["ftp://x.example", "x.example", "https://", "mailto:a@b.c"])
def test_urls_must_be_http_or_https(field: str, url: str) -> None:
    """URL fields must be absolute http(s) URLs with a host."""
    problems = check_generation_request(valid_request(**{field: url}))
    assert [p.path for p in problems] == [field]
    assert "HTTP or HTTPS URL" in problems[0].message


def test_steps_start_at_one() -> None:
    """The lowest step is 1; a step below 1 or not an integer is named."""
    assert paths(valid_request(message_sequence=[MessageStep(step=2, message_type="first_follow_up")])) == [
        "message_sequence[0].step"
    ]
    assert paths(valid_request(message_sequence=[MessageStep(step=0, message_type="first_follow_up")])) == [
        "message_sequence[0].step"
    ]
    two_types_one_step = [
        MessageStep(step=1, message_type="connection_request"),
        MessageStep(step=1, message_type="first_follow_up"),
    ]
    assert paths(valid_request(message_sequence=two_types_one_step)) == []


def test_the_sequence_may_not_be_empty_and_types_may_not_be_blank() -> None:
    """An empty sequence and a blank messageType are problems; unknown types pass (open set)."""
    assert paths(valid_request(message_sequence=[])) == ["message_sequence"]
    assert paths(valid_request(message_sequence=[MessageStep(step=1, message_type=" ")])) == [
        "message_sequence[0].messageType"
    ]
    assert paths(valid_request(message_sequence=[MessageStep(step=1, message_type="youtube_content")])) == []


def test_share_material_needs_material_link() -> None:
    """A share_material step makes material_link mandatory."""
    steps = [MessageStep(step=1, message_type="share_material")]
    assert paths(valid_request(message_sequence=steps)) == ["material_link"]
    assert paths(valid_request(message_sequence=steps, material_link="https://m.example/case")) == []


def test_hiring_activity_needs_hiring_location() -> None:
    """A hiring_activity step makes hiring_location mandatory."""
    steps = [MessageStep(step=1, message_type="hiring_activity")]
    assert paths(valid_request(message_sequence=steps)) == ["hiring_location"]
    assert paths(valid_request(message_sequence=steps, hiring_location="United Kingdom")) == []


def test_at_least_one_lead() -> None:
    """An empty lead list is refused."""
    problems = check_generation_request(valid_request(lead_data=[]))
    assert [(p.path, p.message) for p in problems] == [("lead_data", "must contain at least one lead")]


@pytest.mark.parametrize("field", ["external_prospect_id", "linkedin", "first_name", "lead_company"])
def test_each_lead_needs_its_required_fields(field: str) -> None:
    """Each lead's mandatory fields are named with the lead's index."""
    leads = [lead(0), lead(1, **{field: ""}), lead(2)]
    assert paths(valid_request(lead_data=leads)) == [f"lead_data[1].{field}"]


@pytest.mark.parametrize("field", ["linkedin", "lead_specified_url", "lead_company_website_url"])
def test_lead_urls_must_be_http(field: str) -> None:
    """Lead URLs, optional ones included when given, must be http(s)."""
    leads = [lead(0), lead(1), lead(2, **{field: "javascript:alert(1)"})]
    assert paths(valid_request(lead_data=leads)) == [f"lead_data[2].{field}"]


def test_duplicate_lead_ids_are_flagged() -> None:
    """Two leads with one id would be de-duplicated by the vendor: say so before paying."""
    problems = check_generation_request(valid_request(lead_data=[lead(0), lead(0)]))
    assert [p.path for p in problems] == ["lead_data[1].external_prospect_id"]
    assert "lead_data[0]" in problems[0].message


@pytest.mark.parametrize(
    "value", ["a8bd1fec-94dd-4d6a-b54d-2109994748ac", " A8BD1FEC-94DD-4D6A-B54D-2109994748AC "]
)
def test_secure_request_ids_have_the_uuid_shape(value: str) -> None:
    """A UUID (any case, padded) is accepted and normalised."""
    assert validate_secure_request_id(value) == "a8bd1fec-94dd-4d6a-b54d-2109994748ac"


@pytest.mark.parametrize(
    "value", ["", "123", "a8bd1fec94dd4d6ab54d2109994748ac", "a8bd1fec-94dd-4d6a-b54d-2109994748a"]
)
def test_malformed_secure_request_ids_are_refused_before_sending(value: str, sandbox: Sandbox) -> None:
    """Retrieve refuses a malformed id locally, naming the wire parameter."""
    with (
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client,
        pytest.raises(errors.ValidationError, match="request_message_generation_secure_request_id"),
    ):
        client.retrieve_messages(value)
    assert sandbox.app.requests == []


def test_a_leads_file_reports_every_bad_row_by_path(tmp_path: Path) -> None:
    """A JSONL file with a bad line and a wrongly typed field lists both."""
    source = tmp_path / "leads.jsonl"
    source.write_text(
        '{"external_prospect_id": 1, "linkedin": "https://www.linkedin.com/in/a", "first_name": "A", '
        '"lead_company": "C"}\n'
        "not json\n"
        '{"external_prospect_id": "2", "linkedin": 5, "first_name": "B", "lead_company": "C"}\n'
    )
    with pytest.raises(errors.ValidationError) as caught:
        read_leads(source)
    assert caught.value.paths == ["leads.jsonl:2"]
    source.write_text(
        '{"external_prospect_id": 1, "linkedin": "https://www.linkedin.com/in/a", "first_name": "A", '
        '"lead_company": "C", "job_title": "CTO"}\n'
        '{"external_prospect_id": "2", "linkedin": 5, "first_name": "B", "lead_company": "C"}\n'
    )
    with pytest.raises(errors.ValidationError) as caught:
        read_leads(source)
    assert caught.value.paths == ["lead_data[1].linkedin"]


def test_a_csv_file_passes_extra_columns_through(tmp_path: Path) -> None:
    """Columns beyond the lead fields reach the vendor; blank optional URLs are treated as absent."""
    source = tmp_path / "leads.csv"
    source.write_text(
        "external_prospect_id,linkedin,first_name,lead_company,lead_company_website_url,job_title\n"
        "7,https://www.linkedin.com/in/a,Ann,Acme,,CFO\n"
    )
    [only] = read_leads(source)
    assert only.external_prospect_id == "7"
    assert only.lead_company_website_url is None
    assert only.extra == {"job_title": "CFO"}


def test_a_csv_file_without_the_required_columns_is_refused(tmp_path: Path) -> None:
    """A header missing lead columns is named before anything else."""
    source = tmp_path / "leads.csv"
    source.write_text("id,url\n1,https://x\n")
    with pytest.raises(errors.ValidationError) as caught:
        read_leads(source)
    assert len(caught.value.problems) == 4


def test_extra_may_not_shadow_a_declared_field() -> None:
    """A key in ``extra`` that names a field would bypass its checks: refused, by wire path."""
    leads = [lead(0), lead(1, extra={"first_name": "", "job_title": "CTO"})]
    problems = check_generation_request(
        valid_request(lead_data=leads, extra={"proposition_company_url": "x"})
    )
    assert [p.path for p in problems] == ["proposition_company_url", "lead_data[1].first_name"]
    assert all("given twice" in p.message for p in problems)


def test_a_bad_url_is_named_without_its_token() -> None:
    """The echoed value of a wrong URL keeps its secret query values out of the message."""
    problems = check_generation_request(
        valid_request(completion_notification_url="ftp://hooks.example.net/u?token=WEBHOOKSECRET123456")
    )
    assert [p.path for p in problems] == ["completion_notification_url"]
    assert "WEBHOOKSECRET123456" not in problems[0].message
    assert "token=REDACTED" in problems[0].message


def test_a_declared_field_wins_over_extra_on_the_wire() -> None:
    """Even unvalidated, an encoded request never lets ``extra`` replace a declared field."""
    from msgrelay.upscale import convert

    wire = convert.unstructure(lead(0, extra={"first_name": "Mallory"}))
    assert wire["first_name"] == "Person0"


def test_submit_once_refuses_a_bad_request_before_looking_in_the_ledger(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A corrected-but-still-wrong re-run is refused; the earlier id is not handed back for it."""
    from msgrelay.ledger import SQLiteLedger
    from msgrelay.relay.submit import submit_once

    with (
        UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as client,
        SQLiteLedger(tmp_path / "ledger.sqlite3") as ledger,
    ):
        first = submit_once(client, valid_request(), ledger=ledger)
        again = submit_once(client, valid_request(), ledger=ledger)
        assert again.secure_request_id == first.secure_request_id
        with pytest.raises(errors.ValidationError, match="proposition_company_url"):
            submit_once(client, valid_request(proposition_company_url="ftp://x.example"), ledger=ledger)
    assert sandbox.upscale.generation_posts == 1


def test_a_message_type_close_to_a_known_one_gets_did_you_mean() -> None:
    """A typo of a known type is refused with the suggestion; a type unlike any known one passes (open)."""
    sequence = [
        MessageStep(step=1, message_type="conection_request"),
        MessageStep(step=2, message_type="vendor_new_type"),
    ]
    [problem] = check_generation_request(valid_request(message_sequence=sequence))
    assert problem.path == "message_sequence[0].messageType"
    assert problem.message == "unknown message type 'conection_request'; did you mean 'connection_request'?"
