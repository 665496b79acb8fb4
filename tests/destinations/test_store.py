"""The built-in store destination: repeats dropped by key, JSON Lines and CSV exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from msgrelay.destinations.delivery import Delivery, RelayContext
from msgrelay.destinations.export import EXPORT_COLUMNS
from msgrelay.destinations.store import Store
from msgrelay.upscale.models import Lead

CONTEXT = RelayContext(source="upscale", batch_id="sid-1", customer_id="cust", campaign_id="camp")


def delivery(key: str, lead_id: str, **messages: str | None) -> Delivery:
    lead = Lead(
        external_prospect_id=lead_id,
        linkedin=f"https://www.linkedin.com/in/{lead_id}/",
        messages=dict(messages),
        extra={"email": f"{lead_id}@example.org"},
    )
    return Delivery(destination="store", key=key, context=CONTEXT, lead=lead)


def test_a_repeated_key_is_stored_once(tmp_path: Path) -> None:
    """The same delivery twice (a retry after a crash) leaves one lead and its messages once."""
    store = Store(tmp_path / "store.sqlite3", clock=lambda: 1_768_473_000.0)
    first = delivery("d_1", "crm-1", connection_request="Hi Ada", hiring_activity=None)
    store.deliver(first)
    store.deliver_many([first, delivery("d_2", "crm-2", connection_request="Hi Grace")])
    assert store.summary() == {
        "path": str(tmp_path / "store.sqlite3"),
        "leads": 2,
        "messages": 3,
        "generated": 2,
    }


def test_exports_have_one_row_per_message(tmp_path: Path) -> None:
    """JSON Lines and CSV carry the same rows, in delivery order, with the batch and lead columns."""
    store = Store(tmp_path / "store.sqlite3", clock=lambda: 1_768_473_000.0)
    store.deliver_many(
        [
            delivery("d_1", "crm-1", connection_request='Hi Ada, "quoted", comma', hiring_activity=None),
            delivery("d_2", "crm-2", connection_request="Hi Grace\nsecond line"),
        ]
    )
    out = io.StringIO()
    assert store.export_jsonl(out) == 3
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0] == {
        "delivered_at": "2026-01-15T10:30:00Z",
        "source": "upscale",
        "batch_id": "sid-1",
        "customer_id": "cust",
        "campaign_id": "camp",
        "external_prospect_id": "crm-1",
        "linkedin": "https://www.linkedin.com/in/crm-1/",
        "message_type": "connection_request",
        "text": 'Hi Ada, "quoted", comma',
        "key": "d_1",
        "first_name": None,
        "lead_company": None,
        "lead_specified_url": None,
        "lead_company_website_url": None,
        "extra": {"email": "crm-1@example.org"},
        "no_job_posts": None,
        "null_messages": ["hiring_activity"],
        "status_message": None,
        "failed_messages_reason": None,
        "requested_message_count": None,
        "generated_message_count": None,
        "failed_messages_count": None,
    }
    assert [(r["external_prospect_id"], r["message_type"], r["text"]) for r in rows[1:]] == [
        ("crm-1", "hiring_activity", None),
        ("crm-2", "connection_request", "Hi Grace\nsecond line"),
    ]
    text = io.StringIO()
    assert store.export_csv(text) == 3
    parsed = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert list(parsed[0]) == list(EXPORT_COLUMNS)
    assert [r["text"] for r in parsed] == ['Hi Ada, "quoted", comma', "", "Hi Grace\nsecond line"]


def test_an_empty_store_exports_nothing(tmp_path: Path) -> None:
    """No file yet: zero rows, and no file created by reading."""
    store = Store(tmp_path / "none.sqlite3")
    assert store.export_jsonl(io.StringIO()) == 0
    assert store.summary()["leads"] == 0
    assert not (tmp_path / "none.sqlite3").exists()


def test_the_default_path_follows_msgrelay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a path the store lives in $MSGRELAY_HOME, resolved at each use."""
    monkeypatch.setenv("MSGRELAY_HOME", str(tmp_path / "a"))
    store = Store()
    assert store.path == tmp_path / "a" / "store.sqlite3"
    monkeypatch.setenv("MSGRELAY_HOME", str(tmp_path / "b"))
    assert store.path == tmp_path / "b" / "store.sqlite3"
