"""Retrieve responses decoded from bytes on the typed path: equal to the general path, whatever shape."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from msgrelay import _convert, errors
from msgrelay.upscale import convert, typed_leads
from msgrelay.upscale.models import Lead

SEED = Path(__file__).resolve().parents[1] / "data" / "upscale_retrieve_202_seed.json"
SEQUENCE = [
    {"step": 1, "messageType": "connection_request"},
    {"step": 2, "messageType": "first_follow_up"},
]


def _lead(index: int, **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "external_prospect_id": f"lead_{index}",
        "linkedin": f"https://linkedin.com/in/p-{index}",
        "outreach_message": f"Hi {index}",
        "first_follow_up_message": None if index % 2 else f"Thanks {index}",
    }
    if index % 3 == 2:
        wire["no_job_posts"] = True
    wire.update(changes)
    return wire


def _body(leads: list[dict[str, Any]], sequence: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(SEED.read_text())
    seed["campaign"]["message_sequence"] = SEQUENCE if sequence is None else sequence
    seed["campaign"]["leads_data"] = leads
    return seed


def _both_ways(body: dict[str, Any]) -> Any:
    """The result from bytes, checked equal to the one from the parsed dict (the general path)."""
    from_bytes = convert.decode_retrieve(orjson.dumps(body), 202)
    assert from_bytes == convert.decode_retrieve(copy.deepcopy(body), 202)
    assert all(type(lead) is Lead for lead in from_bytes.leads)
    return from_bytes


def test_the_documented_shape_is_decoded_in_one_typed_pass() -> None:
    """Leads of the shape the sequence calls for come out of msgspec Structs, built without a dict."""
    body = _body([_lead(i) for i in range(7)])
    kinds = typed_leads.message_fields(["connection_request", "first_follow_up"])
    shape = typed_leads.shape(kinds)
    wire = shape.decode_body(orjson.dumps(body))
    leads = shape.build(wire.campaign.leads_data)  # type: ignore[union-attr, arg-type]
    assert leads == _both_ways(body).leads
    assert leads[2].no_job_posts is True
    assert leads[1].messages == {"connection_request": "Hi 1", "first_follow_up": None}


@pytest.mark.parametrize(
    "change",
    [
        {"score": 3},  # unknown key: into extra
        {"stage_ambition_message": "x"},  # a message type the sequence did not ask for
        {"connection_request_message": "hello"},  # a second name of a requested type
        {"first_name": "Ada", "lead_company": "Acme"},  # joined fields
        {"linkedin": None, "no_job_posts": None},
        {"messages": {"a": "b"}, "extra": 1},  # keys named like attributes stay wire keys
    ],
)
def test_leads_off_the_shape_decode_as_on_the_general_path(change: dict[str, Any]) -> None:
    """A lead with other keys decodes exactly as from a dict: nothing lost, nothing misplaced."""
    leads = [_lead(i) for i in range(5)]
    leads[3].update(change)
    result = _both_ways(_body(leads))
    assert len(result.leads) == 5


def test_a_lead_missing_a_message_key_has_no_such_message() -> None:
    """An absent message key is not a null message: the lead's messages leave it out."""
    leads = [_lead(i) for i in range(3)]
    del leads[1]["first_follow_up_message"]
    result = _both_ways(_body(leads))
    assert result.leads[1].messages == {"connection_request": "Hi 1"}


@pytest.mark.parametrize(
    "change",
    [
        {"extra_top": 1},
        {"campaign": {"leads_data": [_lead(0)], "campaign_note": "x"}},
        {"campaign": {"leads_data": [_lead(0)]}},  # no sequence
        {"account": {"automation_tool_customer_id": "c", "region": "eu"}},
    ],
)
def test_bodies_off_the_documented_envelope_decode_as_on_the_general_path(change: dict[str, Any]) -> None:
    """Unknown top-level or campaign keys, or no sequence, decode as from a dict."""
    body = _body([_lead(i) for i in range(3)])
    body.update(change)
    _both_ways(body)


def test_responses_of_other_sequences_in_turn_each_decode_to_their_own_messages() -> None:
    """The shape guessed from the last response never leaks into the next one."""
    reversed_sequence = [
        {"step": 1, "messageType": "first_follow_up"},
        {"step": 2, "messageType": "connection_request"},
    ]
    three = [*SEQUENCE, {"step": 3, "messageType": "hiring_activity"}]
    bodies = [
        _body([_lead(i) for i in range(3)]),
        _body([_lead(i) for i in range(3)], reversed_sequence),
        _body([_lead(i, hiring_activity_message="h") for i in range(3)], three),
        _body([_lead(i) for i in range(3)]),
    ]
    results = [_both_ways(body) for body in bodies]
    assert list(results[0].leads[0].messages) == ["connection_request", "first_follow_up"]
    assert list(results[1].leads[0].messages) == ["first_follow_up", "connection_request"]
    assert results[2].leads[0].messages["hiring_activity"] == "h"
    assert list(results[3].leads[0].messages) == ["connection_request", "first_follow_up"]


def test_a_bad_lead_after_a_good_response_is_still_named_by_its_wire_path() -> None:
    """A wrong type in a body of the guessed shape raises, naming the field, as before."""
    convert.decode_retrieve(orjson.dumps(_body([_lead(i) for i in range(3)])))
    leads = [_lead(i) for i in range(3)]
    leads[2]["outreach_message"] = 7
    with pytest.raises(errors.ValidationError) as caught:
        convert.decode_retrieve(orjson.dumps(_body(leads)))
    assert caught.value.paths == ["campaign.leads_data[2].outreach_message"]


def test_message_fields_leave_out_types_whose_key_reads_back_as_another() -> None:
    """A type whose lead key would fold into another type (or into extra) is not on the typed shape."""
    assert typed_leads.message_fields(["connection_request", "outreach", "", "x", "x"]) == (
        ("connection_request", "outreach_message"),
        ("x", "x_message"),
    )


def test_slot_setters_refuse_a_class_whose_init_does_more_than_store() -> None:
    """Validators, converters, post-init hooks and cached hashes would be skipped: refused instead."""

    @attrs.frozen
    class Validated:
        x: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Hooked:
        x: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen(cache_hash=True)
    class Hashed:
        x: int

    for cls in (Validated, Hooked, Hashed):
        with pytest.raises(TypeError):
            _convert.slot_setters(cls)
    setters = _convert.slot_setters(Lead)
    assert list(setters) == [a.name for a in attrs.fields(Lead)]
