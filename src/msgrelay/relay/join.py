"""The join at fan-out: each retrieved lead with the lead as it was submitted, by ``external_prospect_id``.

The vendor returns only the lead id, the LinkedIn URL and the messages; the ledger kept every
submitted lead in full (`msgrelay.ledger.Ledger.reserve_submission`). `join_submitted` streams the
retrieved leads and looks their submitted records up a chunk at a time, so a 100,000-lead batch
never holds a second full copy of its leads (nor a dict of them) in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import orjson

from msgrelay.ledger.base import Ledger, Submission
from msgrelay.upscale.models import LEAD_INPUT_FIELDS, Lead

__all__ = ["JOIN_CHUNK", "join_lead", "join_submitted"]

#: Retrieved leads looked up together in the ledger.
JOIN_CHUNK = 500
_IDENTITY = frozenset({"external_prospect_id", "linkedin", *LEAD_INPUT_FIELDS})


def join_lead(lead: Lead, submitted: Mapping[str, Any]) -> Lead:
    """``lead`` with the submitted record's named fields as attributes and its other columns in ``extra``.

    What the vendor returned wins where both have a value (its LinkedIn URL, an extra key it sent).
    """
    named = {name: submitted[name] for name in LEAD_INPUT_FIELDS if isinstance(submitted.get(name), str)}
    extra = {key: value for key, value in submitted.items() if key not in _IDENTITY}
    extra.update(lead.extra)
    linkedin = lead.linkedin if lead.linkedin is not None else submitted.get("linkedin")
    return attrs.evolve(lead, linkedin=linkedin, extra=extra, **named)


def join_submitted(
    leads: Iterable[Lead], ledger: Ledger, submission: Submission | None, *, chunk: int = JOIN_CHUNK
) -> Iterator[Lead]:
    """Each lead joined with its submitted record (a lead with none passes as it is), in order.

    Args:
        leads: the retrieved leads, read once, in order.
        ledger: where the submitted leads are.
        submission: the submission of this batch, or None when msgrelay did not submit it.
        chunk: leads looked up per ledger call.
    """
    if submission is None:
        yield from leads
        return
    iterator = iter(leads)
    while part := list(itertools.islice(iterator, chunk)):
        found = ledger.submitted_leads(submission.key, [lead.external_prospect_id for lead in part])
        for lead in part:
            payload = found.get(lead.external_prospect_id)
            yield lead if payload is None else join_lead(lead, orjson.loads(payload))
