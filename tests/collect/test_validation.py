"""Every Collect write rule is checked locally, all problems at once, before any request is sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from msgrelay.collect import (
    UNSET,
    CollectClient,
    MessageChanges,
    NewEmailMessage,
    NewInternalMessage,
    NewSmsMessage,
    changes_from_wire,
    encode,
    new_message,
    new_message_from_wire,
)
from msgrelay.errors import ValidationError

BODY = "Please upload your identity card."  # 33 characters
TITLE = "Your documents are due"


class NoNetwork(requests.Session):
    """A session that fails the test if anything tries to send."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        raise AssertionError(f"a request was sent: {args}")


@pytest.fixture
def offline() -> tuple[CollectClient, NoNetwork]:
    session = NoNetwork()
    return CollectClient(api_key="k" * 24, base_url="http://127.0.0.1:9/v1", session=session), session


def problems(action: Callable[[], object]) -> dict[str, str]:
    """The ``{wire path: message}`` of the ValidationError ``action`` raises."""
    with pytest.raises(ValidationError) as caught:
        action()
    return {p.path: p.message for p in caught.value.problems}


# --- new messages ----------------------------------------------------------------------------
def test_an_email_with_a_5_character_title_is_refused_before_any_request(
    offline: tuple[CollectClient, NoNetwork],
) -> None:
    """The Must-show case: the error names ``title``, and nothing reaches the network."""
    client, session = offline
    found = problems(lambda: client.create_message("req1", new_message("email", title="Hello", body=BODY)))
    assert found == {"title": "must be at least 10 characters, got 5"}
    assert session.calls == 0


def test_one_error_names_every_problem_by_wire_field() -> None:
    """A short title, a short body, text on an email and a bad sendOn come back together."""
    found = problems(lambda: new_message("email", title="Hi", text="x", body="too short", send_on="tomorrow"))
    assert list(found) == ["title", "text", "body", "sendOn"]
    assert "ISO 8601 UTC" in found["sendOn"]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: NewInternalMessage(title=""), {"title": "must not be blank"}),
        (lambda: new_message("internal"), {"title": "is required for internal messages"}),
        (
            lambda: new_message("internal", title="Note", body=BODY),
            {"body": "is not used for internal messages"},
        ),
        (
            lambda: new_message("internal", title="Note", send_on="2026-02-06T10:00:00Z"),
            {"sendOn": "is not used"},
        ),
        (lambda: new_message("email", body=BODY), {"title": "is required for email messages"}),
        (lambda: NewEmailMessage(title="123456789", body=BODY), {"title": "at least 10 characters, got 9"}),
        (lambda: NewEmailMessage(title=TITLE, body="x" * 19), {"body": "at least 20 characters, got 19"}),
        (lambda: new_message("email", title=TITLE), {"body": "is required for email messages"}),
        (lambda: new_message("sms", title="Hi", body=BODY), {"title": "is not used for SMS messages"}),
        (lambda: NewSmsMessage(body="x" * 19), {"body": "at least 20 characters, got 19"}),
        (lambda: NewSmsMessage(body=" " * 25), {"body": "must not be blank"}),
        (lambda: new_message("sms", body=BODY, text="x"), {"text": "is for internal messages only"}),
        (lambda: NewSmsMessage(body=BODY, send_on="2026-02-06T10:00:00"), {"sendOn": "ISO 8601 UTC"}),
        (lambda: NewSmsMessage(body=BODY, send_on=datetime(2026, 2, 6, 10)), {"sendOn": "needs a time zone"}),
        (lambda: new_message("fax", body=BODY), {"channel": "must be one of internal, email, sms"}),
        (lambda: NewInternalMessage(title=5), {"title": "must be a string, got int"}),  # type: ignore[arg-type]
    ],
)
def test_each_rule_of_a_new_message(build: Callable[[], object], expected: dict[str, str]) -> None:
    """Each documented rule is enforced and named by its wire field."""
    found = problems(build)
    assert list(found) == list(expected)
    for path, fragment in expected.items():
        assert fragment in found[path]


def test_valid_drafts_encode_to_the_documented_bodies() -> None:
    """channel always sent; title never for SMS; sendOn in UTC ``Z`` form; absent text not sent."""
    paris = timezone(timedelta(hours=1))
    assert encode(NewInternalMessage(title="Note")) == {"channel": "internal", "title": "Note"}
    assert encode(NewInternalMessage(title="Note", text="**hi**")) == {
        "channel": "internal",
        "title": "Note",
        "text": "**hi**",
    }
    assert encode(
        NewEmailMessage(title=TITLE, body=BODY, send_on=datetime(2026, 2, 6, 11, tzinfo=paris))
    ) == {
        "channel": "email",
        "title": TITLE,
        "body": BODY,
        "sendOn": "2026-02-06T10:00:00Z",
    }
    assert encode(NewSmsMessage(body=BODY, send_on="2026-02-06T10:00:00.250Z")) == {
        "channel": "sms",
        "body": BODY,
        "sendOn": "2026-02-06T10:00:00.250Z",
    }


def test_new_message_builds_the_draft_of_each_channel() -> None:
    """The factory the CLI and steps use returns the typed draft."""
    assert new_message("internal", title="Note") == NewInternalMessage(title="Note")
    assert new_message("email", title=TITLE, body=BODY) == NewEmailMessage(title=TITLE, body=BODY)
    sms = new_message("sms", body=BODY, send_on="2026-02-06T10:00:00Z")
    assert sms == NewSmsMessage(body=BODY, send_on=datetime(2026, 2, 6, 10, tzinfo=UTC))


def test_new_message_from_wire_defaults_to_internal_and_refuses_unknown_keys() -> None:
    """No channel means internal, as in the API; an undocumented key is a problem, not dropped."""
    assert new_message_from_wire({"title": "Note", "text": None}) == NewInternalMessage(title="Note")
    assert problems(lambda: new_message_from_wire({"channel": "sms", "body": BODY, "status": "sent"})) == {
        "status": "is not a field Collect documents here"
    }


# --- partial updates -------------------------------------------------------------------------
def test_changes_send_only_what_was_set_and_null_clears_text() -> None:
    """An UNSET field is not sent; ``text=None`` is sent as null."""
    assert encode(MessageChanges(text=None)) == {"text": None}
    assert encode(MessageChanges(title="New title")) == {"title": "New title"}
    assert encode(MessageChanges(body=BODY, send_on="2026-02-06T10:00:00Z")) == {
        "body": BODY,
        "sendOn": "2026-02-06T10:00:00Z",
    }
    assert MessageChanges(text=None).wire_fields == ("text",)
    assert MessageChanges(title="x").text is UNSET


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: MessageChanges(), {"": "nothing to change"}),
        (lambda: MessageChanges(title=None), {"title": "cannot be null"}),  # type: ignore[arg-type]
        (lambda: MessageChanges(body=None), {"body": "cannot be null"}),  # type: ignore[arg-type]
        (lambda: MessageChanges(send_on=None), {"sendOn": "cannot be null"}),  # type: ignore[arg-type]
        (lambda: MessageChanges(title="  "), {"title": "must not be blank"}),
        (lambda: MessageChanges(body="x" * 19), {"body": "at least 20 characters"}),
        (lambda: MessageChanges(send_on="next week"), {"sendOn": "ISO 8601 UTC"}),
        (lambda: MessageChanges(text="a", body=BODY), {"text": "not both"}),
        (lambda: MessageChanges(text=3), {"text": "must be a string or null"}),  # type: ignore[arg-type]
    ],
)
def test_each_rule_of_a_partial_update(build: Callable[[], object], expected: dict[str, str]) -> None:
    """Null is allowed only for text; the length rules apply to updates too."""
    found = problems(build)
    assert list(found) == list(expected)
    for path, fragment in expected.items():
        assert fragment in found[path]


@pytest.mark.parametrize(
    ("channel", "changes", "expected"),
    [
        ("email", MessageChanges(title="Short"), {"title": "at least 10 characters"}),
        ("email", MessageChanges(text="x"), {"text": "internal messages only"}),
        ("sms", MessageChanges(title="A long enough title"), {"title": "not used for SMS"}),
        ("internal", MessageChanges(body=BODY), {"body": "not used for internal"}),
        ("internal", MessageChanges(send_on="2026-02-06T10:00:00Z"), {"sendOn": "not used for internal"}),
    ],
)
def test_channel_rules_apply_when_the_client_is_told_the_channel(
    offline: tuple[CollectClient, NoNetwork], channel: str, changes: MessageChanges, expected: dict[str, str]
) -> None:
    """``update_message(..., channel=...)`` checks that channel's rules before sending."""
    client, session = offline
    found = problems(lambda: client.update_message("req1", "msg1", changes, channel=channel))
    assert list(found) == list(expected)
    for path, fragment in expected.items():
        assert fragment in found[path]
    assert session.calls == 0


def test_changes_from_wire_tells_absent_from_null() -> None:
    """``{"text": null}`` clears; a missing key leaves alone; unknown keys are problems."""
    assert changes_from_wire({"text": None}) == MessageChanges(text=None)
    assert changes_from_wire({"title": "New"}).text is UNSET
    assert problems(lambda: changes_from_wire({"status": "paused"})) == {
        "status": "is not a field Collect documents here"
    }


# --- ids and other arguments -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.list_messages(""), ["requestId"]),
        (lambda c: c.list_messages("r", channel=""), ["channel"]),
        (lambda c: c.get_message("..", " "), ["requestId", "messageId"]),
        (lambda c: c.delete_message("r", None), ["messageId"]),
        (lambda c: c.create_message("", {"title": "x"}), ["requestId", ""]),
        (lambda c: c.update_message("r", "m", {"text": None}), [""]),
        (lambda c: c.get_request(""), ["requestId"]),
        (lambda c: c.list_requests("", status="", page_size=101), ["campaignId", "filter", "limit"]),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    offline: tuple[CollectClient, NoNetwork], call: Callable[[Any], object], expected: list[str]
) -> None:
    """Blank ids, dot segments, wrong argument types and page sizes: one error, nothing sent."""
    client, session = offline
    with pytest.raises(ValidationError) as caught:
        call(client)
    assert caught.value.paths == expected
    assert session.calls == 0
