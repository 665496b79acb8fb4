"""`LeadSequence`: leads built from wire objects when first read, equal to a tuple of leads; and how
decoded leads compare, encode and fail, whichever way the response comes in."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from msgrelay import errors
from msgrelay.upscale import convert
from msgrelay.upscale.lazy import LazySequence
from msgrelay.upscale.models import Campaign, Lead, LeadSequence

SEED = Path(__file__).resolve().parents[1] / "data" / "upscale_retrieve_202_seed.json"


def _lead(index: int, **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "external_prospect_id": f"lead_{index}",
        "linkedin": f"https://linkedin.com/in/p-{index}",
        "outreach_message": f"Hi {index}",
        "first_follow_up_message": None if index % 2 else f"Thanks {index}",
    }
    wire.update(changes)
    return wire


def _body(leads: list[dict[str, Any]]) -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(SEED.read_text())
    seed["campaign"]["leads_data"] = leads
    return seed


@pytest.fixture
def body() -> dict[str, Any]:
    return _body([_lead(i) for i in range(5)])


def _lazy(body: dict[str, Any]) -> LeadSequence:
    return LeadSequence.lazy(copy.deepcopy(body["campaign"]["leads_data"]), convert.structure_lead)


def test_leads_from_bytes_are_all_built_by_decoding(body: dict[str, Any]) -> None:
    """Decoding bytes builds every lead at once (the reader reads them all), into a tuple."""
    leads = convert.decode_retrieve(orjson.dumps(body)).leads
    assert isinstance(leads, tuple)
    assert all(type(lead) is Lead for lead in leads)
    assert leads[1] == convert.structure_lead(body["campaign"]["leads_data"][1])


def test_a_lazy_sequence_builds_each_lead_when_first_read(body: dict[str, Any]) -> None:
    """Nothing is built up front; a read builds one lead and returns the same object afterwards."""
    leads = _lazy(body)
    assert all(type(item) is dict for item in leads.wire_items())
    second = leads[1]
    assert second is leads[1]
    assert second is leads[-4]
    assert sum(type(item) is Lead for item in leads.wire_items()) == 1
    assert second == convert.structure_lead(body["campaign"]["leads_data"][1])


def test_a_lead_sequence_reads_like_the_tuple_it_replaces(body: dict[str, Any]) -> None:
    """Length, iteration, indexing, slicing, membership, equality and ``+`` behave as for a tuple."""
    lazy = _lazy(body)
    eager = convert.decode_retrieve(body).leads
    assert isinstance(eager, tuple)
    assert len(lazy) == 5
    assert list(lazy) == list(eager)
    assert lazy == eager
    assert eager == lazy
    assert lazy[1:4] == eager[1:4]
    assert isinstance(lazy[::2], LeadSequence)
    assert lazy[::-1] == eager[::-1]
    assert eager[2] in lazy
    assert lazy.index(eager[3]) == 3
    assert lazy + eager[:1] == (*eager, eager[0])
    assert eager[:1] + lazy == (eager[0], *eager)
    assert lazy != list(eager)
    assert lazy != eager[:4]
    with pytest.raises(IndexError):
        lazy[5]
    with pytest.raises(TypeError):
        hash(lazy)


def test_results_from_bytes_and_from_dicts_are_equal(body: dict[str, Any]) -> None:
    """The same response decodes to equal results, whichever way it comes in."""
    assert convert.decode_retrieve(orjson.dumps(body)) == convert.decode_retrieve(body)


def test_a_lead_sequence_round_trips_whether_read_or_not(body: dict[str, Any]) -> None:
    """Encoding gives back the wire objects, for unread leads, read leads and a mix of both."""
    body["campaign"]["leads_data"][2]["no_job_posts"] = True
    body["campaign"]["leads_data"][3]["no_job_posts"] = None
    body["campaign"]["leads_data"][4]["score"] = {"fit": 7}
    result = convert.decode_retrieve(orjson.dumps(body), 202)
    result = attrs.evolve(result, campaign=attrs.evolve(result.campaign, leads_data=_lazy(body)))
    unread = convert.unstructure(result)
    result.leads[0]
    mixed = convert.unstructure(result)
    list(result.leads)
    read = convert.unstructure(result)
    expected = copy.deepcopy(body)
    del expected["campaign"]["leads_data"][3]["no_job_posts"]  # a null notice is not written back
    assert unread == mixed == read == expected
    assert orjson.loads(convert.dumps(result)) == expected
    decoded = convert.decode_retrieve(orjson.dumps(body), 202)
    assert orjson.loads(convert.dumps(decoded)) == expected


def test_encoding_a_lead_in_another_form_rewrites_it_as_the_lead_says() -> None:
    """A lead whose keys are not in encoding order or use a second name for a type is re-encoded."""
    wires: list[dict[str, Any]] = [
        {"linkedin": None, "external_prospect_id": "a", "outreach_message": "hi"},
        {"external_prospect_id": "b", "connection_request_message": "hello"},
    ]
    result = convert.decode_retrieve(orjson.dumps(_body(wires)))
    assert convert.unstructure(result.campaign)["leads_data"] == [
        {"external_prospect_id": "a", "linkedin": None, "outreach_message": "hi"},
        {"external_prospect_id": "b", "linkedin": None, "outreach_message": "hello"},
    ]
    assert [lead.messages for lead in result.leads] == [
        {"connection_request": "hi"},
        {"connection_request": "hello"},
    ]


def test_encoding_unread_leads_does_not_hand_out_the_wire_objects(body: dict[str, Any]) -> None:
    """Changing what `unstructure` returned leaves the lazy sequence's leads as they were."""
    leads = _lazy(body)
    convert.unstructure(Campaign(leads_data=leads))["leads_data"][0]["outreach_message"] = "changed"
    assert leads[0].message("connection_request") == "Hi 0"


@pytest.mark.parametrize(
    ("index", "changes", "path"),
    [
        (3, {"external_prospect_id": 5}, "campaign.leads_data[3].external_prospect_id"),
        (1, {"linkedin": 7}, "campaign.leads_data[1].linkedin"),
        (4, {"first_follow_up_message": ["x"]}, "campaign.leads_data[4].first_follow_up_message"),
        (2, {"youtube_content_message": 3}, "campaign.leads_data[2].youtube_content_message"),
        (0, {"no_job_posts": "yes"}, "campaign.leads_data[0].no_job_posts"),
    ],
)
def test_a_bad_lead_in_bytes_is_named_by_its_wire_path(
    index: int, changes: dict[str, Any], path: str
) -> None:
    """The up-front check rejects a wrong type in any lead field, and the error says where."""
    leads = [_lead(i) for i in range(5)]
    leads[index].update(changes)
    with pytest.raises(errors.ValidationError) as caught:
        convert.decode_retrieve(orjson.dumps(_body(leads)))
    assert caught.value.paths == [path]


@pytest.mark.parametrize(
    ("leads", "path"),
    [
        ([_lead(0), "lead_1"], "campaign.leads_data[1]"),
        ([_lead(0), {"linkedin": None}], "campaign.leads_data[1].external_prospect_id"),
        ({"0": _lead(0)}, "campaign.leads_data"),
    ],
)
def test_a_lead_list_of_the_wrong_shape_is_named_by_its_wire_path(leads: Any, path: str) -> None:
    """A lead that is not an object, lacks its id, or a leads_data that is not a list is rejected."""
    with pytest.raises(errors.ValidationError) as caught:
        convert.decode_retrieve(orjson.dumps(_body(leads)))
    assert caught.value.paths == [path]


def test_unknown_lead_keys_of_any_type_pass_the_check() -> None:
    """Keys that are neither identity nor messages go to ``extra`` whatever their JSON type."""
    wires = [_lead(0, score=1.5, tags=["a"], owner={"id": 1}, flagged=False, note=None)]
    lead = convert.decode_retrieve(orjson.dumps(_body(wires))).leads[0]
    assert lead.extra == {"score": 1.5, "tags": ["a"], "owner": {"id": 1}, "flagged": False, "note": None}


def test_bytes_that_are_not_json_raise_a_value_error() -> None:
    """A body that is not JSON raises `ValueError`, as the client expects."""
    with pytest.raises(ValueError, match=r"(?i)expected"):
        convert.decode_retrieve(b'{"metadata": ')


def test_a_lead_sequence_pickles_and_copies_as_its_leads(body: dict[str, Any]) -> None:
    """Pickling and copying give an equal sequence of leads."""
    leads = _lazy(body)
    assert pickle.loads(pickle.dumps(leads)) == leads
    assert copy.deepcopy(leads) == leads
    assert repr(LeadSequence([Lead(external_prospect_id="x")])).startswith("LeadSequence((Lead(")


def test_a_campaign_built_in_code_keeps_its_leads_as_a_tuple() -> None:
    """A list of leads given to `Campaign` becomes a tuple; a `LeadSequence` is kept as it is."""
    lead = Lead(external_prospect_id="x")
    assert Campaign(leads_data=[lead]).leads_data == (lead,)
    assert isinstance(Campaign(leads_data=[lead]).leads_data, tuple)
    sequence = LeadSequence([lead])
    assert Campaign(leads_data=sequence).leads_data is sequence


def test_a_lazy_sequence_builds_any_item_type_from_wire_objects() -> None:
    """`LeadSequence` is the lead case of a generic lazy sequence: build on first read, once."""
    built: list[int] = []

    def build(wire: dict[str, Any]) -> int:
        built.append(wire["n"])
        return int(wire["n"])

    numbers = LazySequence.lazy([{"n": 1}, {"n": 2}, {"n": 3}], build)
    assert numbers[1] == 2
    assert built == [2]
    assert numbers == (1, 2, 3)
    assert built == [2, 1, 3]
    assert numbers[1:] == (2, 3)
    assert isinstance(numbers[1:], LazySequence)
    assert repr(numbers) == "LazySequence((1, 2, 3))"
    assert pickle.loads(pickle.dumps(numbers)) == numbers
    assert issubclass(LeadSequence, LazySequence)
