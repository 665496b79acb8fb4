"""The delivery path builds a `Lead` only for a destination that reads it (issue 14).

The relay hands destinations deliveries made from the lead as the ledger stores it; the built-in store
writes its rows from that object, and a destination reading ``delivery.lead`` gets the lead as the
fan-out transformed it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay.destinations.delivery import Delivery, RelayContext
from msgrelay.destinations.store import Store
from msgrelay.plugins import hookspecs
from msgrelay.testing import RelayHarness
from msgrelay.upscale import convert
from msgrelay.upscale.convert import unstructure_lead
from msgrelay.upscale.models import Lead
from tests.helpers import Recorder

TYPES = ("connection_request", "first_follow_up", "hiring_activity")


@attrs.define
class Seen:
    """Records every lead its ``transform_lead`` returns (adding a mark, so the transform shows)."""

    leads: dict[str, Lead] = attrs.field(factory=dict)

    @hookspecs.hookimpl
    def transform_lead(self, lead: Lead) -> Lead:
        out = attrs.evolve(lead, extra={**lead.extra, "seen": True})
        self.leads[out.external_prospect_id] = out
        return out


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every `structure_lead` call made through the names the delivery path may use."""
    calls = [0]
    real = convert.structure_lead

    def counted(data: Any, _: Any = None) -> Lead:
        calls[0] += 1
        return real(data)

    for module in ("msgrelay.relay.deliver", "msgrelay.destinations.delivery"):
        monkeypatch.setattr(f"{module}.structure_lead", counted, raising=False)
    return calls


def test_delivering_to_the_store_builds_no_lead(
    msgrelay_harness: RelayHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fanned out, then delivered into the store: not one `Lead` is built on the way, every row lands."""
    sid = msgrelay_harness.submit(leads=5, message_types=TYPES)
    relay = msgrelay_harness.relay
    relay.ledger.record_event("upscale", sid, event=None, destinations=["store"], now=relay.clock())
    assert relay.fan_out_due().leads == 5
    builds = _counting_builds(monkeypatch)
    assert relay.deliver_due().delivered == 5
    assert builds[0] == 0
    rows = list(msgrelay_harness.store.rows())
    assert len(rows) == 5 * len(TYPES)
    assert {r["external_prospect_id"] for r in rows} == {f"lead-{i}" for i in range(5)}


def test_a_destination_reading_the_lead_gets_the_lead_as_transformed(
    msgrelay_harness: RelayHarness, register_plugin: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside the store, a destination reading ``delivery.lead`` gets the transformed lead, once built."""
    seen, recorder = Seen(), Recorder()
    register_plugin(seen, name="seen")
    register_plugin(recorder, name="recorder")
    sid = msgrelay_harness.submit(leads=3, message_types=TYPES)
    relay = msgrelay_harness.relay
    relay.ledger.record_event(
        "upscale", sid, event=None, destinations=["store", "recorder"], now=relay.clock()
    )
    relay.fan_out_due()
    builds = _counting_builds(monkeypatch)
    assert relay.deliver_due().delivered == 6
    got = {d.lead.external_prospect_id: d.lead for d in recorder.calls if d.lead is not None}
    assert got == seen.leads
    assert len(got) == 3
    assert all(lead.extra["seen"] is True for lead in got.values())
    assert builds[0] == 3  # the recorder's three, each built once however often read
    assert all(d.lead is d.lead for d in recorder.calls)


LEADS = (
    Lead(external_prospect_id="a", linkedin="https://l/a", messages={"connection_request": "hi", "x": None}),
    Lead(
        external_prospect_id="b",
        messages={"hiring_activity": None, "first_follow_up": "later"},
        no_job_posts=True,
        first_name="Bo",
        lead_company="",
        lead_specified_url="https://b.example",
        extra={"email": "b@example.com", "score": 3, "nested": {"k": [1, None]}},
    ),
    Lead(external_prospect_id="c", linkedin=None, messages={}, no_job_posts=False),
    Lead(external_prospect_id="d", messages={"share_material": "é ✓"}, lead_company_website_url="https://d"),
)


def _table_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [
            *conn.execute("SELECT * FROM deliveries ORDER BY id"),
            *conn.execute("SELECT * FROM messages ORDER BY rowid"),
            *conn.execute("SELECT * FROM batches ORDER BY rowid"),
        ]
    finally:
        conn.close()


def test_rows_from_the_stored_lead_are_those_from_the_built_lead(tmp_path: Path) -> None:
    """Every column of every table, byte for byte: the store written from the wire objects equals the
    store written from the leads (null messages, notices, joined fields, unknown keys included)."""
    context = RelayContext(source="upscale", batch_id="b-1", customer_id="cu", campaign_id="ca")
    stores = {}
    for name, make in (
        ("built", lambda lead: {"lead": lead}),
        ("wire", lambda lead: {"lead_wire": unstructure_lead(lead)}),
    ):
        store = Store(tmp_path / f"{name}.sqlite3", clock=lambda: 1_700_000_000.5)
        deliveries = [
            Delivery(destination="store", key=f"k-{lead.external_prospect_id}", context=context, **make(lead))
            for lead in LEADS
        ]
        store.deliver_many(deliveries)
        store.close()
        if name == "wire":
            assert not any(d.lead_built for d in deliveries)
        stores[name] = _table_rows(tmp_path / f"{name}.sqlite3")
    assert stores["wire"] == stores["built"]
    assert len(stores["built"]) == len(LEADS) + 5 + 1


def test_a_delivery_from_a_wire_lead_equals_one_from_the_lead() -> None:
    """Equality, ``item_id`` and ``attrs.evolve`` treat a wire lead as the lead it stands for."""
    context = RelayContext(source="upscale", batch_id="b")
    lead = LEADS[1]
    wire = Delivery(destination="d", key="k", context=context, lead_wire=unstructure_lead(lead))
    assert wire.item_id == "b"
    built_before = wire.lead_built
    assert wire == Delivery(destination="d", key="k", context=context, lead=lead)
    assert (built_before, wire.lead_built) == (False, True)
    other = attrs.evolve(wire, lead=attrs.evolve(lead, first_name="Other"))
    assert other.lead is not None
    assert other.lead.first_name == "Other"
