"""Bounded work on hostile input: a million bad items are refused with a bounded list of problems and
bounded memory (cattrs alone builds one exception per element: seconds and gigabytes)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import cattrs
import pytest

from msgrelay import _convert
from msgrelay.collect.convert import decode_messages
from msgrelay.errors import MAX_PROBLEMS, ValidationError
from msgrelay.upscale import convert as upscale_convert
from msgrelay.upscale.leads import leads_from_mappings
from msgrelay.upscale.models import GenerationRequest, LeadInput, MessageStep
from msgrelay.upscale.validation import validate_generation_request

MILLION = 1_000_000
#: Generous: the fixed version peaks near 20 MB here, the unbounded one went past a gigabyte.
PEAK_BYTES = 150 * 2**20


def peak_memory(call: Callable[[], Any]) -> tuple[BaseException, int]:
    """The exception ``call`` raises and the peak of memory allocated while it ran."""
    tracemalloc.start()
    try:
        call()
    except Exception as exc:  # the point of the call is to fail
        caught: BaseException = exc
    else:
        pytest.fail("the hostile input was accepted")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return caught, peak


def test_an_array_of_a_million_bad_items_stops_after_the_cap() -> None:
    """cattrs stops at MAX_PROBLEMS bad elements and says how many items it did not check."""
    hostile = [1] * MILLION
    caught, peak = peak_memory(lambda: upscale_convert.converter().structure(hostile, list[MessageStep]))
    problems = _convert.error_paths(caught)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[0] == ("[0]", "expected an object, got int 1")
    assert problems[-1] == (
        "",
        f"{MILLION - MAX_PROBLEMS} more items not checked after {MAX_PROBLEMS} problems",
    )
    assert peak < PEAK_BYTES


def test_a_million_bad_collect_messages_are_refused_in_bounded_memory() -> None:
    """The public Collect decoder refuses the same array naming the first bad item."""
    hostile = [1] * MILLION
    caught, peak = peak_memory(lambda: decode_messages(hostile))
    assert isinstance(caught, ValidationError)
    assert caught.paths == ["[0]"]
    assert peak < PEAK_BYTES


def test_a_good_array_still_structures_whole() -> None:
    """The cap applies to problems only: a long valid array comes back complete, as a list or tuple."""
    steps = [{"step": i, "messageType": "connection_request"} for i in range(1, 2 * MAX_PROBLEMS)]
    structured = upscale_convert.converter().structure(steps, list[MessageStep])
    assert [s.step for s in structured] == list(range(1, 2 * MAX_PROBLEMS))
    as_tuple = upscale_convert.converter().structure(steps, tuple[MessageStep, ...])
    assert isinstance(as_tuple, tuple)
    assert len(as_tuple) == len(steps)


def test_nested_arrays_are_capped_too() -> None:
    """Each inner array stops at its own cap; the outer one collects at most the cap of them."""
    hostile = [[1.5] * 50] * 3
    with pytest.raises(cattrs.IterableValidationError) as caught:
        _convert.make_converter().structure(hostile, list[list[int]])
    problems = _convert.error_paths(caught.value)
    assert len(problems) == 3 * (MAX_PROBLEMS + 1)
    assert problems[MAX_PROBLEMS] == (
        "[0]",
        f"{50 - MAX_PROBLEMS} more items not checked after {MAX_PROBLEMS} problems",
    )


def test_a_request_with_50k_blank_leads_lists_20_problems_and_counts_the_rest() -> None:
    """Local validation keeps the first MAX_PROBLEMS problems and counts the others: "and N more"."""
    blank = LeadInput(external_prospect_id="", linkedin="", first_name="", lead_company="")
    count = 50_000
    request = GenerationRequest(
        completion_notification_url="https://hooks.example.net/u",
        automation_tool_customer_id="c",
        automation_tool_campaign_id="c",
        automation_tool_campaign_name="c",
        proposition_company_name="c",
        proposition_company_url="https://c.example",
        message_sequence=[MessageStep(step=1, message_type="connection_request")],
        lead_data=[blank] * count,
    )
    caught, peak = peak_memory(lambda: validate_generation_request(request))
    assert isinstance(caught, ValidationError)
    assert len(caught.problems) == MAX_PROBLEMS
    assert caught.more == 4 * count - MAX_PROBLEMS
    text = str(caught)
    assert text.startswith(f"invalid generation request: {4 * count} problems")
    assert text.endswith(f"and {4 * count - MAX_PROBLEMS} more")
    assert text.count("\n  - ") == MAX_PROBLEMS + 1
    assert peak < PEAK_BYTES


def test_rows_of_wrong_types_keep_a_bounded_list() -> None:
    """Step rows with a wrongly typed field: MAX_PROBLEMS kept, the rest counted."""
    rows = [{"external_prospect_id": "x", "linkedin": 5}] * 100_000
    with pytest.raises(ValidationError) as caught:
        leads_from_mappings(rows)
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert caught.value.more == 100_000 - MAX_PROBLEMS
