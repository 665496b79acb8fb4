"""Upscale models and converter: the seed's example, round trips, unknown keys, both count spellings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from msgrelay import errors
from msgrelay.upscale import convert, models
from msgrelay.upscale.models import (
    CompletionEvent,
    GenerationRequest,
    Lead,
    LeadInput,
    MessageStep,
    RetrieveResult,
)

#: The 202 example of the product owner's Retrieve Messages document (shared/seeds/000_*), verbatim.
SEED = Path(__file__).resolve().parents[1] / "data" / "upscale_retrieve_202_seed.json"


def seed_example() -> dict[str, Any]:
    return dict(json.loads(SEED.read_text()))


@pytest.fixture
def seed() -> dict[str, Any]:
    return seed_example()


def test_the_seed_example_decodes(seed: dict[str, Any]) -> None:
    """The authoritative 202 example decodes into a partial, typed result."""
    result = convert.decode_retrieve(orjson.dumps(seed), 202)
    assert isinstance(result, RetrieveResult)
    assert result.is_complete is False
    assert result.http_status == 202
    assert result.secure_request_id == "550e8400-e29b-41d4-a716-446655440000"
    assert result.metadata.failed_messages_count is None
    assert result.metadata.requested_message_count == 10
    assert result.account.automation_tool_customer_id == "customer_12345"
    assert [s.message_type for s in result.campaign.message_sequence] == [
        "connection_request",
        "first_follow_up",
    ]
    first, second = result.leads
    assert first.messages == {
        "connection_request": "Hi John, I noticed your work at Acme Corp...",
        "first_follow_up": None,
    }
    assert second.message("connection_request") is None


def test_the_seed_example_round_trips_exactly(seed: dict[str, Any]) -> None:
    """Decoding then encoding gives back the same JSON."""
    result = convert.decode_retrieve(seed, 202)
    assert convert.unstructure(result) == seed
    assert orjson.loads(convert.dumps(result)) == seed


def test_unknown_keys_are_kept_at_every_level_and_survive_a_round_trip(seed: dict[str, Any]) -> None:
    """New vendor keys on the body, metadata, account, campaign, steps and leads are not lost."""
    data = copy.deepcopy(seed)
    data["request_trace"] = "t-1"
    data["metadata"]["queue_position"] = 4
    data["account"]["plan"] = {"name": "pro"}
    data["campaign"]["language"] = "en"
    data["campaign"]["message_sequence"][0]["wait_days"] = 0
    data["campaign"]["leads_data"][0]["job_title"] = "CTO"
    result = convert.decode_retrieve(data)
    assert result.extra == {"request_trace": "t-1"}
    assert result.metadata.extra == {"queue_position": 4}
    assert result.account.extra == {"plan": {"name": "pro"}}
    assert result.campaign.extra == {"language": "en"}
    assert result.campaign.message_sequence[0].extra == {"wait_days": 0}
    assert result.leads[0].extra == {"job_title": "CTO"}
    assert convert.unstructure(result) == data


def test_a_joined_lead_keeps_its_submitted_fields_as_attributes_through_a_round_trip() -> None:
    """The named fields of a submitted lead (``first_name``...) are attributes, stored and read back."""
    wire = {
        "external_prospect_id": "crm-1",
        "linkedin": "https://www.linkedin.com/in/ada/",
        "first_name": "Ada",
        "lead_company": "Example Labs",
        "outreach_message": "Hi",
        "email": "ada@example.org",
    }
    lead = convert.structure_lead(wire)
    assert (lead.first_name, lead.lead_company, lead.extra) == (
        "Ada",
        "Example Labs",
        {"email": "ada@example.org"},
    )
    assert convert.unstructure_lead(lead) == wire
    with pytest.raises(errors.ValidationError, match="first_name"):
        convert.structure({**wire, "first_name": 3}, models.Lead)


@pytest.mark.parametrize("spelling", ["message", "messages"])
def test_both_count_spellings_decode(seed: dict[str, Any], spelling: str) -> None:
    """``*_message_count`` (retrieve, Gen B) and ``*_messages_count`` (Gen A, webhook) both decode."""
    meta = seed["metadata"]
    for name in ("requested", "generated"):
        meta[f"{name}_{spelling}_count"] = meta.pop(f"{name}_message_count")
    meta["failed_messages_count"] = 2
    result = convert.decode_retrieve(seed)
    assert (result.metadata.requested_message_count, result.metadata.generated_message_count) == (10, 3)
    assert result.metadata.failed_messages_count == 2


def test_completion_is_decided_by_generation_status_then_http_status(seed: dict[str, Any]) -> None:
    """``generation_status`` decides; without it the HTTP status does."""
    seed["metadata"]["generation_status"] = "complete"
    assert convert.decode_retrieve(seed, 202).is_complete
    del seed["metadata"]["generation_status"]
    assert convert.decode_retrieve(seed, 200).is_complete
    assert not convert.decode_retrieve(seed, 202).is_complete


def test_message_type_mapping_is_data_in_one_place() -> None:
    """connection_request ↔ outreach_message; every other type ↔ <type>_message, unknown ones too."""
    assert models.message_field(models.CONNECTION_REQUEST) == "outreach_message"
    assert models.message_field(models.STAGE_AMBITION) == "stage_ambition_message"
    assert models.message_field("re-engagement") == "re-engagement_message"
    assert models.message_type_of_field("outreach_message") == "connection_request"
    assert models.message_type_of_field("hiring_activity_message") == "hiring_activity"
    assert models.message_type_of_field("linkedin") is None
    assert models.message_type_of_field("_message") is None
    assert "stage_ambition" in models.KNOWN_MESSAGE_TYPES


def test_a_lead_exposes_every_message_key_it_carries() -> None:
    """Known, inferred and unknown ``*_message`` keys all appear in ``messages``; others in ``extra``."""
    lead = convert.structure_lead(
        {
            "external_prospect_id": "crm-1",
            "linkedin": "https://www.linkedin.com/in/x",
            "outreach_message": "hi",
            "hiring_activity_message": None,
            "youtube_content_message": "watch this",
            "no_job_posts": True,
            "score": 7,
        }
    )
    assert lead.messages == {
        "connection_request": "hi",
        "hiring_activity": None,
        "youtube_content": "watch this",
    }
    assert lead.no_job_posts is True
    assert lead.extra == {"score": 7}
    assert convert.unstructure_lead(lead)["youtube_content_message"] == "watch this"


def test_messages_of_fills_every_requested_type(seed: dict[str, Any]) -> None:
    """A lead missing a requested type's key still lists that type, as None."""
    del seed["campaign"]["leads_data"][1]["first_follow_up_message"]
    result = convert.decode_retrieve(seed)
    assert result.messages_of(result.leads[1]) == {"connection_request": None, "first_follow_up": None}


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda d: d["campaign"]["leads_data"][1].__setitem__("external_prospect_id", 5),
            "campaign.leads_data[1].external_prospect_id",
        ),
        (
            lambda d: d["campaign"]["leads_data"][0].__setitem__("outreach_message", ["x"]),
            "campaign.leads_data[0].outreach_message",
        ),
        (
            lambda d: d["campaign"]["leads_data"][0].__setitem__("no_job_posts", "yes"),
            "campaign.leads_data[0].no_job_posts",
        ),
        (
            lambda d: d["campaign"]["leads_data"][1].pop("external_prospect_id"),
            "campaign.leads_data[1].external_prospect_id",
        ),
        (
            lambda d: d["metadata"].__setitem__("requested_message_count", "10"),
            "metadata.requested_message_count",
        ),
        (
            lambda d: d["campaign"]["message_sequence"][1].__setitem__("step", "2"),
            "campaign.message_sequence[1].step",
        ),
        (
            lambda d: d["campaign"]["message_sequence"][0].__setitem__("messageType", 5),
            "campaign.message_sequence[0].messageType",
        ),
        (lambda d: d.__setitem__("metadata", []), "metadata"),
    ],
)
def test_a_wrong_vendor_value_is_named_by_its_wire_path(seed: dict[str, Any], mutate: Any, path: str) -> None:
    """Validation of what the vendor sends is kept, and the error says where."""
    mutate(seed)
    with pytest.raises(errors.ValidationError) as caught:
        convert.decode_retrieve(seed)
    assert caught.value.paths == [path]


def test_generation_request_encodes_with_wire_names() -> None:
    """``message_type`` goes out as ``messageType``; absent optionals are omitted; extra lead keys pass."""
    request = GenerationRequest(
        completion_notification_url="https://hooks.example/u",
        automation_tool_customer_id="t",
        automation_tool_campaign_id="c",
        automation_tool_campaign_name="n",
        proposition_company_name="p",
        proposition_company_url="https://p.example",
        message_sequence=[MessageStep(step=1, message_type="stage_ambition")],
        lead_data=[
            LeadInput(
                external_prospect_id="1",
                linkedin="https://www.linkedin.com/in/x",
                first_name="X",
                lead_company="Y",
                extra={"last_name": "Z"},
            )
        ],
    )
    wire = convert.unstructure(request)
    assert wire["message_sequence"] == [{"step": 1, "messageType": "stage_ambition"}]
    assert wire["lead_data"] == [
        {
            "external_prospect_id": "1",
            "linkedin": "https://www.linkedin.com/in/x",
            "first_name": "X",
            "lead_company": "Y",
            "last_name": "Z",
        }
    ]
    assert "material_link" not in wire
    assert "signoff_name" not in wire
    assert convert.structure(wire, GenerationRequest) == request


@pytest.mark.parametrize("spelling", ["messages", "message"])
def test_completion_event_accepts_both_count_spellings(spelling: str) -> None:
    """The webhook body decodes whichever spelling the vendor uses."""
    event = convert.structure_completion_event(
        {
            "secure_request_id": "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef",
            "status": "complete",
            "completed_at": "2025-04-02T09:15:27Z",
            f"requested_{spelling}_count": 4,
            f"generated_{spelling}_count": 3,
            "webhook_triggered_at": "2025-04-02T09:15:28Z",
            "attempt": 2,
        }
    )
    assert isinstance(event, CompletionEvent)
    assert (event.requested_messages_count, event.generated_messages_count) == (4, 3)
    assert event.extra == {"attempt": 2}


def test_completion_event_without_an_id_is_rejected() -> None:
    """A webhook body with no secure_request_id cannot be processed and says so."""
    with pytest.raises(errors.ValidationError, match="secure_request_id"):
        convert.structure_completion_event({"status": "complete"})


def test_leads_are_frozen() -> None:
    """Models are immutable: transformations make new ones (attrs.evolve)."""
    lead = Lead(external_prospect_id="1")
    with pytest.raises(AttributeError):
        lead.linkedin = "x"  # type: ignore[misc]
