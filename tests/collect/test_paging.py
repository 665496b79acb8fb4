"""Paging through a campaign's requests ends, even when the server misbehaves."""

from __future__ import annotations

from msgrelay.collect import CollectClient, encode
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.sandbox.collect_seed import SEED_CAMPAIGN_ID


def test_paging_stops_when_the_server_ignores_the_offset(sandbox: Sandbox) -> None:
    """Pages are full but repeat themselves: the iterator ends instead of looping forever."""
    with CollectClient(sandbox.collect_api_key, sandbox.collect_url) as client:
        first = list(client.list_requests(SEED_CAMPAIGN_ID, page_size=2))
        # Every later page answers like the first one, as a server ignoring `offset` would.
        page = list(client.list_requests(SEED_CAMPAIGN_ID, page_size=100))[:2]
        sandbox.inject(Fault("GET", "/requests", status=200, body=[encode(r) for r in page], times=50))
        repeated = list(client.list_requests(SEED_CAMPAIGN_ID, page_size=2))
    assert len(first) > 2
    assert [r.id for r in repeated] == [r.id for r in page]
