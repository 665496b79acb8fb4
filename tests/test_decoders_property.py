"""Every decoder, fed anything: a result or a `MsgrelayError`, never a raw exception (bounded, seeded)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from msgrelay.collect import convert as collect_convert
from msgrelay.errors import MsgrelayError
from msgrelay.upscale import convert as upscale_convert
from msgrelay.upscale.models import (
    CompletionEvent,
    Credits,
    GenerationTicket,
    RetrieveResult,
    SequenceTemplate,
)

#: JSON-shaped values, with integers far beyond 64 bits and keys the vendors use.
_KEYS = st.sampled_from(
    [
        "metadata",
        "leads_data",
        "message_types",
        "generation_status",
        "secure_request_id",
        "requested_message_count",
        "external_prospect_id",
        "outreach_message",
        "_id",
        "channel",
        "createdAt",
        "text",
        "title",
        "x",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=8)
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)

_SEED = (Path(__file__).parent / "data" / "upscale_retrieve_202_seed.json").read_bytes()

#: Bodies that broke the decoders before: huge integers, deep nesting, empty and blank bodies.
NASTY_BODIES = [
    b"",
    b"   \n",
    b"[" * 3000 + b"]" * 3000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"metadata": {"requested_message_count": ' + b"9" * 40 + b'}, "leads_data": []}',
    b'{"metadata": {}, "leads_data": [{"external_prospect_id": ' + b"9" * 40 + b"}]}",
    b"\xff\xfe not utf-8",
    _SEED.replace(b'"requested_message_count": 10', b'"requested_message_count": ' + b"9" * 40),
    _SEED.replace(b'"metadata": {', b'"unknown_key": ' + b"9" * 40 + b', "metadata": {', 1),
]

DATA_DECODERS: dict[str, Callable[[Any], object]] = {
    "upscale.decode_retrieve(dict)": upscale_convert.decode_retrieve,
    "upscale.completion_event": upscale_convert.structure_completion_event,
    "upscale.credits": lambda d: upscale_convert.structure(d, Credits),
    "upscale.ticket": lambda d: upscale_convert.structure(d, GenerationTicket),
    "upscale.sequence": lambda d: upscale_convert.structure(d, SequenceTemplate),
    "upscale.event": lambda d: upscale_convert.structure(d, CompletionEvent),
    "upscale.retrieve": lambda d: upscale_convert.structure(d, RetrieveResult),
    "collect.message": collect_convert.decode_message,
    "collect.messages": collect_convert.decode_messages,
    "collect.request": collect_convert.decode_request,
    "collect.requests": collect_convert.decode_requests,
}


def _only_msgrelay_errors(decode: Callable[[Any], object], value: Any) -> None:
    try:
        result = decode(value)
    except MsgrelayError:
        return
    # A result is one msgrelay can store: the ledger and the store write it with orjson.
    if isinstance(result, RetrieveResult):
        list(result.leads)
        upscale_convert.dumps(result)
    elif "collect" in getattr(decode, "__module__", ""):
        orjson.dumps(collect_convert.encode(result))


@pytest.mark.parametrize("body", NASTY_BODIES)
def test_the_retrieve_decoder_turns_nasty_bodies_into_msgrelay_errors(body: bytes) -> None:
    """Huge integers, 3,000 levels of nesting and empty bodies: a `MsgrelayError`, not a raw exception."""
    _only_msgrelay_errors(upscale_convert.decode_retrieve, body)


@pytest.mark.parametrize("name", sorted(DATA_DECODERS))
def test_data_decoders_refuse_deep_nesting_with_msgrelay_errors(name: str) -> None:
    """A parsed value nested 3,000 deep is refused as a `MsgrelayError`."""
    deep: Any = 1
    for _ in range(3000):
        deep = {"metadata": deep, "leads_data": [deep] if False else deep}
    _only_msgrelay_errors(DATA_DECODERS[name], deep)


@seed(10)
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_every_data_decoder_yields_a_result_or_a_msgrelay_error(value: Any) -> None:
    """Any JSON-shaped value: each decoder returns or raises a `MsgrelayError`."""
    for decode in DATA_DECODERS.values():
        _only_msgrelay_errors(decode, value)


@seed(10)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    body=st.binary(max_size=64)
    | JSON.map(lambda v: orjson.dumps(v, option=orjson.OPT_PASSTHROUGH_SUBCLASS) if _fits(v) else b"{}")
)
def test_the_retrieve_decoder_yields_a_result_or_a_msgrelay_error_for_any_bytes(body: bytes) -> None:
    """Any bytes: `decode_retrieve` returns or raises a `MsgrelayError`."""
    _only_msgrelay_errors(upscale_convert.decode_retrieve, body)


def _fits(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True
