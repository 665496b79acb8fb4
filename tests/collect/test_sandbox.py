"""The Collect emulator behaves as the contract describes the API (called without a network)."""

from __future__ import annotations

import base64
import threading
from typing import Any

import orjson
import pytest
import requests

from msgrelay.collect import decode_messages, parse_timestamp
from msgrelay.sandbox import Sandbox, collect_seed
from msgrelay.sandbox.collect import CollectSandbox
from msgrelay.sandbox.collect_seed import (
    SEED_CAMPAIGN_ID,
    SEED_EMAIL_MESSAGE_ID,
    SEED_HIDDEN_REQUEST_ID,
    SEED_INTERNAL_MESSAGE_ID,
    SEED_LEGACY_REQUEST_ID,
    SEED_OTHER_CAMPAIGN_ID,
    SEED_REQUEST_ID,
    SEED_SENT_EMAIL_MESSAGE_ID,
    SEED_SMS_MESSAGE_ID,
    meteor_id,
)
from msgrelay.web.routing import Request

KEY = "sandbox-test-key-0123456789"
BODY = "Please upload your identity card."
MESSAGES = f"/requests/{SEED_REQUEST_ID}/messages"


class Clock:
    """A clock that stands still unless moved: the emulator must still move ``updatedAt``."""

    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f":{key}".encode()).decode()


def call(
    emulator: CollectSandbox,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    key: str = KEY,
) -> tuple[int, Any]:
    raw = b"" if body is None else orjson.dumps(body)
    request = Request(method, path, query or {}, {"authorization": basic(key)}, raw)
    response = emulator.dispatch(request)
    return response.status, response.body


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> CollectSandbox:
    return CollectSandbox(api_key=KEY, clock=clock)


def test_basic_auth_with_an_empty_user_and_the_key_as_password(emulator: CollectSandbox) -> None:
    """Only ``:key`` is accepted; a user name, another key or no header is a 401."""
    assert call(emulator, "GET", MESSAGES)[0] == 200
    assert call(emulator, "GET", MESSAGES, key="other")[0] == 401
    with_user = Request(
        "GET", MESSAGES, {}, {"authorization": "Basic " + base64.b64encode(f"u:{KEY}".encode()).decode()}
    )
    assert emulator.dispatch(with_user).status == 401
    assert emulator.dispatch(Request("GET", MESSAGES, {}, {})).status == 401


def test_seeded_messages_are_newest_first_on_all_three_channels(emulator: CollectSandbox) -> None:
    """The seed request lists email, SMS, sent email, then two internal notes, by ``createdAt``."""
    status, body = call(emulator, "GET", MESSAGES)
    assert status == 200
    assert [m["id"] for m in body][:4] == [
        SEED_EMAIL_MESSAGE_ID,
        SEED_SMS_MESSAGE_ID,
        SEED_SENT_EMAIL_MESSAGE_ID,
        SEED_INTERNAL_MESSAGE_ID,
    ]
    assert {m["channel"] for m in body} == {"internal", "email", "sms"}
    created = [m.created_at for m in decode_messages(body)]  # type: ignore[union-attr]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("channel", ["internal", "email", "sms"])
def test_the_channel_filter(emulator: CollectSandbox, channel: str) -> None:
    """``?channel=`` keeps one channel, still newest first."""
    _, everything = call(emulator, "GET", MESSAGES)
    _, filtered = call(emulator, "GET", MESSAGES, query={"channel": channel})
    assert filtered == [m for m in everything if m["channel"] == channel]
    assert filtered


def test_the_legacy_request_holds_a_channelless_and_an_unknown_channel_message(
    emulator: CollectSandbox,
) -> None:
    """Older-shape messages count as internal for the filter; the unknown channel is listed too."""
    path = f"/requests/{SEED_LEGACY_REQUEST_ID}/messages"
    _, body = call(emulator, "GET", path)
    assert [m.get("channel") for m in body] == ["whatsapp", None]
    _, internal = call(emulator, "GET", path, query={"channel": "internal"})
    assert [m.get("channel") for m in internal] == [None]


def test_create_answers_201_with_the_channel_shape(emulator: CollectSandbox) -> None:
    """Internal gets updatedAt; email and SMS get status pending and a sendOn, and no updatedAt."""
    status, note = call(emulator, "POST", MESSAGES, {"channel": "internal", "title": "Note", "text": None})
    assert status == 201
    assert note["updatedAt"] == note["createdAt"]
    assert note["text"] is None
    status, email = call(
        emulator,
        "POST",
        MESSAGES,
        {"channel": "email", "title": "A long subject", "body": BODY, "sendOn": "2027-01-01T09:00:00+01:00"},
    )
    assert status == 201
    assert (email["status"], email["sendOn"]) == ("pending", "2027-01-01T08:00:00Z")
    assert "updatedAt" not in email
    status, sms = call(emulator, "POST", MESSAGES, {"channel": "sms", "body": BODY})
    assert status == 201
    assert sms["sendOn"] == sms["createdAt"]
    assert "title" not in sms
    _, listed = call(emulator, "GET", MESSAGES)
    assert [m["id"] for m in listed[:3]] == [sms["id"], email["id"], note["id"]]


def test_create_without_channel_is_internal(emulator: CollectSandbox) -> None:
    """The older create body (title and text only) still works."""
    status, body = call(emulator, "POST", MESSAGES, {"title": "Note", "text": "hi"})
    assert (status, body["channel"]) == (201, "internal")


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"channel": "internal"}, "title: is required"),
        ({"channel": "email", "title": "Short", "body": BODY}, "title: must be at least 10"),
        ({"channel": "email", "title": "A long subject", "body": "too short"}, "body: must be at least 20"),
        ({"channel": "sms", "title": "Hello", "body": BODY}, "title: is not a field"),
        ({"channel": "sms", "body": BODY, "sendOn": "tomorrow"}, "sendOn: must be an ISO 8601 UTC time"),
        (
            {"channel": "email", "title": "A long subject", "body": BODY, "status": "sent"},
            "status: is not a field",
        ),
        ({"channel": "fax", "body": BODY}, "channel must be one of"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_create_refuses_rule_breaches_with_400(emulator: CollectSandbox, payload: Any, fragment: str) -> None:
    """The documented rules are enforced server-side too, independently of the client."""
    status, body = call(emulator, "POST", MESSAGES, payload)
    assert status == 400
    assert fragment in body["error"]


def test_patch_is_partial_null_clears_text_and_updated_at_moves(emulator: CollectSandbox) -> None:
    """Only sent fields change; ``text: null`` clears; ``updatedAt`` moves even on a frozen clock."""
    path = f"{MESSAGES}/{SEED_INTERNAL_MESSAGE_ID}"
    _, before = call(emulator, "GET", path)
    status, after = call(emulator, "PATCH", path, {"text": None})
    assert status == 200
    assert after["text"] is None
    assert after["title"] == before["title"]
    assert parse_timestamp(after["updatedAt"]) > parse_timestamp(before["updatedAt"])
    _, again = call(emulator, "PATCH", path, {"title": "Renamed"})
    assert parse_timestamp(again["updatedAt"]) > parse_timestamp(after["updatedAt"])
    assert again["text"] is None


def test_patch_checks_the_message_channel_rules(emulator: CollectSandbox) -> None:
    """An email title stays 10+ characters, SMS takes no title, internal takes no body."""
    email = f"{MESSAGES}/{SEED_EMAIL_MESSAGE_ID}"
    assert call(emulator, "PATCH", email, {"title": "Short"})[0] == 400
    assert call(emulator, "PATCH", email, {"text": "x"})[0] == 400
    assert call(emulator, "PATCH", email, {"title": None})[0] == 400
    status, body = call(emulator, "PATCH", email, {"body": BODY, "sendOn": "2027-01-01T09:00:00Z"})
    assert (status, body["body"], body["sendOn"]) == (200, BODY, "2027-01-01T09:00:00Z")
    assert call(emulator, "PATCH", f"{MESSAGES}/{SEED_INTERNAL_MESSAGE_ID}", {"body": BODY})[0] == 400


def test_a_message_already_sent_cannot_change(emulator: CollectSandbox) -> None:
    """Only pending or paused email/SMS messages are editable."""
    status, body = call(emulator, "PATCH", f"{MESSAGES}/{SEED_SENT_EMAIL_MESSAGE_ID}", {"body": BODY})
    assert status == 400
    assert "opened" in body["error"]


def test_delete_then_404(emulator: CollectSandbox) -> None:
    """Delete answers ``{"deleted": true}``; the message is gone from get and list."""
    path = f"{MESSAGES}/{SEED_SMS_MESSAGE_ID}"
    assert call(emulator, "DELETE", path) == (200, {"deleted": True})
    assert call(emulator, "GET", path)[0] == 404
    assert call(emulator, "DELETE", path)[0] == 404
    assert SEED_SMS_MESSAGE_ID not in [m["id"] for m in call(emulator, "GET", MESSAGES)[1]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/requests/NoSuchRequest0000/messages"),
        ("POST", "/requests/NoSuchRequest0000/messages"),
        ("GET", f"{MESSAGES}/msg_nope"),
        ("PATCH", f"{MESSAGES}/msg_nope"),
        ("GET", f"/requests/{SEED_LEGACY_REQUEST_ID}/messages/{SEED_INTERNAL_MESSAGE_ID}"),
        ("GET", "/requests/NoSuchRequest0000"),
    ],
)
def test_unknown_ids_answer_404(emulator: CollectSandbox, method: str, path: str) -> None:
    """Unknown requests and messages, and a message asked for under another request."""
    status, body = call(emulator, method, path, {"title": "Note"} if method != "GET" else None)
    assert status == 404
    assert "could not be found" in body["error"]


def test_a_hidden_request_answers_403(emulator: CollectSandbox) -> None:
    """The contract's 403: an object hidden for administrators only."""
    assert call(emulator, "GET", f"/requests/{SEED_HIDDEN_REQUEST_ID}")[0] == 403
    assert call(emulator, "GET", f"/requests/{SEED_HIDDEN_REQUEST_ID}/messages")[0] == 403


def test_requests_page_with_offset_and_limit_and_filter(emulator: CollectSandbox) -> None:
    """Seven listable requests by default; cancelled and archived only on request; paging slices."""
    _, everything = call(emulator, "GET", "/requests", query={"campaignId": SEED_CAMPAIGN_ID})
    assert len(everything) == 7
    assert SEED_HIDDEN_REQUEST_ID not in [r["_id"] for r in everything]
    assert all("documents" not in r for r in everything)
    _, page = call(
        emulator, "GET", "/requests", query={"campaignId": SEED_CAMPAIGN_ID, "offset": "5", "limit": "3"}
    )
    assert page == everything[5:]
    _, archived = call(
        emulator, "GET", "/requests", query={"campaignId": SEED_CAMPAIGN_ID, "filter": "archived"}
    )
    assert [r["status"] for r in archived] == ["archived"]
    _, other = call(emulator, "GET", "/requests", query={"campaignId": SEED_OTHER_CAMPAIGN_ID})
    assert len(other) == 2


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"campaignId": "NoSuchCampaign000"}, 404),
        ({"campaignId": SEED_CAMPAIGN_ID, "limit": "101"}, 400),
        ({"campaignId": SEED_CAMPAIGN_ID, "offset": "-1"}, 400),
        ({"campaignId": SEED_CAMPAIGN_ID, "limit": "ten"}, 400),
    ],
)
def test_request_listing_refuses_bad_queries(
    emulator: CollectSandbox, query: dict[str, str], status: int
) -> None:
    """A campaign is required and must exist; limit is 1 to 100."""
    assert call(emulator, "GET", "/requests", query=query)[0] == status


def test_get_request_has_documents_and_a_contact(emulator: CollectSandbox) -> None:
    """The full request carries the elements the list leaves out."""
    status, body = call(emulator, "GET", f"/requests/{SEED_REQUEST_ID}")
    assert status == 200
    assert body["contact"]["firstName"] == "Ada"
    assert body["documents"][0]["name"] == "Identity card"


def test_seeded_ids_are_meteor_style() -> None:
    """Campaign and request ids are 17 alphanumeric characters, like the real API's."""
    for value in (
        SEED_CAMPAIGN_ID,
        SEED_OTHER_CAMPAIGN_ID,
        SEED_REQUEST_ID,
        SEED_LEGACY_REQUEST_ID,
        meteor_id("x"),
    ):
        assert len(value) == 17
        assert value.isalnum()


def test_the_seed_is_plain_data_each_sandbox_gets_its_own_copy_of() -> None:
    """The seed functions return new wire objects on each call; a sandbox loads them in order."""
    first, second = CollectSandbox(api_key=KEY), CollectSandbox(api_key=KEY)
    assert collect_seed.seed_requests() == collect_seed.seed_requests()
    assert list(first.campaigns.values()) == collect_seed.seed_campaigns()
    assert list(first.requests.values()) == collect_seed.seed_requests()
    assert first.hidden == {SEED_HIDDEN_REQUEST_ID} == set(collect_seed.HIDDEN_REQUEST_IDS)
    stored = sorted(m for by_id in first.messages.values() for m in by_id.values())
    assert [message for _, message in stored] == collect_seed.seed_messages()
    first.requests[SEED_REQUEST_ID]["status"] = "archived"
    assert second.requests[SEED_REQUEST_ID]["status"] == "pending"
    assert collect_seed.seed_requests()[0]["status"] == "pending"


def test_two_sandboxes_create_the_same_ids() -> None:
    """Ids are deterministic, so re-recorded cassettes do not churn."""
    first = call(CollectSandbox(api_key=KEY), "POST", MESSAGES, {"title": "Note"})[1]["id"]
    second = call(CollectSandbox(api_key=KEY), "POST", MESSAGES, {"title": "Note"})[1]["id"]
    assert first == second


def test_concurrent_creates_are_all_kept(emulator: CollectSandbox) -> None:
    """Many threads creating at once lose nothing and never share an id or a timestamp."""
    created: list[dict[str, Any]] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        status, body = call(emulator, "POST", MESSAGES, {"title": f"Note {n}"})
        assert status == 201
        with lock:
            created.append(body)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({m["id"] for m in created}) == 40
    assert len({parse_timestamp(m["createdAt"]) for m in created}) == 40
    assert len(call(emulator, "GET", MESSAGES)[1]) == 40 + 5


def test_served_under_the_collect_prefix(sandbox: Sandbox) -> None:
    """Through HTTP: the sandbox mounts the emulator at ``/collect/v1`` with its own key."""
    url = f"{sandbox.collect_url}{MESSAGES}"
    ok = requests.get(url, auth=("", sandbox.collect_api_key), timeout=5)
    assert ok.status_code == 200
    assert len(ok.json()) == 5
    assert requests.get(url, auth=("", sandbox.upscale_api_key), timeout=5).status_code == 401
