"""A large Upscale batch fans out in chunks: the fan-out's memory is bounded by a chunk, not the batch."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

from msgrelay.destinations.delivery import UPSCALE
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import DeliveryPolicy
from msgrelay.relay.fanout import FanOut
from msgrelay.relay.report import RelayReport
from msgrelay.relay.stream import ItemSpool
from msgrelay.upscale import convert
from msgrelay.upscale.models import Lead, RetrieveResult

SEED = Path(__file__).resolve().parents[1] / "data" / "upscale_retrieve_202_seed.json"
LEADS = 20_000
NOW = 1_000.0
#: The fan-out's own peak, beyond the decoded batch. Folding, serialising and writing 20,000 leads
#: at once took about 15 MiB over the batch (a list of joined leads, a list of every payload, and
#: the rows built from them); a chunk at a time takes about 2 MiB: a chunk, the spool's in-memory
#: part, and the item ids of the duplicate-id check (which grows with the batch, but by ids only).
BOUND = 6 * 1024 * 1024


def _body(leads: int) -> bytes:
    seed: dict[str, Any] = json.loads(SEED.read_text())
    seed["metadata"]["generation_status"] = "complete"
    seed["metadata"]["requested_message_count"] = 2 * leads
    seed["campaign"]["leads_data"] = [
        {
            "external_prospect_id": f"lead-{i:06d}",
            "linkedin": f"https://www.linkedin.com/in/prospect-{i}",
            "outreach_message": f"Hi {i}, I noticed your work on the platform team at Company {i}. " * 3,
            "first_follow_up_message": None if i % 7 == 0 else f"Following up on my note, {i}. " * 4,
        }
        for i in range(leads)
    ]
    return orjson.dumps(seed)


class _Retrieved:
    """The Upscale client's two calls, answering with a batch already decoded from its body."""

    def __init__(self, result: RetrieveResult) -> None:
        self.result = result

    def retrieve_messages(self, secure_request_id: str) -> RetrieveResult:
        return self.result

    def wait_for_completion(self, secure_request_id: str, *, timeout: float = 0.0) -> RetrieveResult:
        return self.result


def test_a_20k_lead_batch_fans_out_within_a_bounded_peak(tmp_path: Path) -> None:
    """Every lead is stored with its outbox row, and the fan-out's traced peak stays under `BOUND`."""
    result = convert.decode_retrieve(_body(LEADS))
    sid = "550e8400-e29b-41d4-a716-446655440000"
    # Built now, so the leads count as the decoded batch (held by the caller), not as the fan-out.
    assert sum(1 for lead in result.leads if isinstance(lead, Lead)) == LEADS
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    ledger.record_event(UPSCALE, sid, event="complete", destinations=None, now=NOW)
    fan_out = FanOut(
        ledger=ledger,
        plugins=PluginManager(environ={}, entry_points=False).load(),
        destinations=["store"],
        policy=DeliveryPolicy(),
        owner="worker",
        clock=lambda: NOW,
        upscale=_Retrieved(result),
    )
    report = RelayReport()
    gc.collect()
    tracemalloc.start()
    try:
        assert fan_out.run_due(report) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"fan-out of {LEADS} leads: traced peak {peak / 2**20:.1f} MiB (bound {BOUND / 2**20:.0f} MiB)")
    assert (report.batches, report.leads, report.batch_failures) == (1, LEADS, 0)
    assert report.messages == LEADS + sum(1 for i in range(LEADS) if i % 7)
    assert ledger.batch_counts(UPSCALE, sid) == {"pending": LEADS}
    assert ledger.stored_items(UPSCALE, sid) == {f"lead-{i:06d}" for i in range(LEADS)}
    assert peak < BOUND


def test_the_spool_gives_back_every_item_in_order() -> None:
    """Ids with tabs or newlines, and a spool past its in-memory size, read back exactly as written."""
    leads = [Lead(external_prospect_id=f"a\t{i}\nb", messages={"x": "t\tn\n"}) for i in range(50)]
    with ItemSpool(in_memory=256) as spool:
        for lead in leads:
            spool.add(lead.external_prospect_id, lead)
        items = list(spool.items())
    assert [item_id for item_id, _ in items] == [lead.external_prospect_id for lead in leads]
    assert [orjson.loads(payload) for _, payload in items] == [
        orjson.loads(orjson.dumps(convert.unstructure_lead(lead))) for lead in leads
    ]
