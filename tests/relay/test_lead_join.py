"""The lead travels whole: submitted fields joined back at fan-out, and the vendor's failures carried."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from msgrelay.cli import main
from msgrelay.destinations.store import Store
from msgrelay.ledger import SQLiteLedger
from msgrelay.relay.join import join_submitted
from msgrelay.sandbox import Sandbox
from msgrelay.upscale.models import Lead

LEADS = (
    "external_prospect_id,linkedin,first_name,lead_company,email,crm_id\n"
    "c-1,https://www.linkedin.com/in/c1,Cleo,Acme,cleo@acme.example,hs-101\n"
    "c-2,https://www.linkedin.com/in/c2,Dev,Quiet Labs,dev@quiet.example,hs-102\n"
)


def _generate(sandbox: Sandbox, leads: Path, *extra: str) -> list[str]:
    return [
        "upscale", "--api-key", sandbox.upscale_api_key, "--base-url", sandbox.upscale_url,
        "generate", "--leads", str(leads), "--customer-id", "cust", "--campaign-id", "camp",
        "--campaign-name", "Spring", "--company-name", "Ledgerly", "--company-url", "https://ledgerly.example.com",
        "--sequence", "connection_request,hiring_activity", "--hiring-location", "United Kingdom",
        "--notify-url", "http://127.0.0.1:9/hook", *extra,
    ]  # fmt: skip


def test_generate_then_relay_exports_every_lead_whole(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each exported row carries the submitted first_name, lead_company, email and crm_id; the lead whose
    company has no job posts carries its null hiring_activity, no_job_posts and the batch's reason."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    assert main(_generate(sandbox, leads)) == 0
    sid = orjson.loads(capsys.readouterr().out)["secure_request_id"]
    env = ["relay", sid]
    import os

    os.environ["UPSCALE_API_KEY"], os.environ["UPSCALE_BASE_URL"] = (
        sandbox.upscale_api_key,
        sandbox.upscale_url,
    )
    try:
        assert main(env) == 0
    finally:
        del os.environ["UPSCALE_API_KEY"], os.environ["UPSCALE_BASE_URL"]
    capsys.readouterr()
    out = io.StringIO()
    Store().export_jsonl(out)
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["first_name"]
        assert row["lead_company"]
        assert row["extra"]["email"].endswith(".example")
        assert row["extra"]["crm_id"].startswith("hs-")
    quiet = [r for r in rows if r["external_prospect_id"] == "c-2" and r["message_type"] == "hiring_activity"]
    assert quiet[0]["text"] is None
    assert quiet[0]["no_job_posts"] is True
    assert quiet[0]["null_messages"] == ["hiring_activity"]
    assert quiet[0]["failed_messages_reason"] == "No hiring activity found for one or more prospects."
    assert quiet[0]["failed_messages_count"] == 1


class _CountingLedger:
    """The real ledger, recording how many ids each join lookup asked for."""

    def __init__(self, ledger: SQLiteLedger) -> None:
        self.ledger = ledger
        self.asked: list[int] = []

    def submitted_leads(self, key: str, ids: Sequence[str]) -> dict[str, str]:
        self.asked.append(len(ids))
        return self.ledger.submitted_leads(key, ids)


def test_the_join_streams_in_chunks(tmp_path: Path) -> None:
    """A 5,000-lead batch is joined a chunk at a time, lazily: never one lookup (or dict) of every lead."""
    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    n = 5000
    payloads = (
        (f"p{i}", orjson.dumps({"external_prospect_id": f"p{i}", "email": f"{i}@x"}).decode())
        for i in range(n)
    )
    sub, _ = ledger.reserve_submission(
        "k",
        customer_id="c",
        campaign_id="k",
        lead_count=n,
        message_types="x",
        owner="o",
        now=0.0,
        leads=payloads,
    )
    counting = _CountingLedger(ledger)
    joined = join_submitted((Lead(external_prospect_id=f"p{i}") for i in range(n)), counting, sub, chunk=500)  # type: ignore[arg-type]
    first = next(joined)
    assert first.extra == {"email": "0@x"}
    assert counting.asked == [500]  # lazy: only the first chunk was looked up
    rest = list(joined)
    assert len(rest) == n - 1
    assert rest[-1].extra == {"email": f"{n - 1}@x"}
    assert max(counting.asked) == 500
    assert sum(counting.asked) == n
    ledger.close()


def test_a_batch_msgrelay_did_not_submit_relays_with_what_the_vendor_returned(tmp_path: Path) -> None:
    """No submission: the leads pass unchanged."""
    ledger = SQLiteLedger(tmp_path / "l.sqlite3")
    leads = [Lead(external_prospect_id="a", linkedin="https://www.linkedin.com/in/a")]
    assert list(join_submitted(leads, ledger, ledger.submission_for_batch("nope"))) == leads
    ledger.close()
