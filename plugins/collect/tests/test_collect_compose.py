"""What one delivery writes: the request it goes to, the note or messages, their markers, the rules
checked before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from msgrelay_collect import CollectSettings, lead_field, plan_delivery

from msgrelay import COLLECT, Delivery, Lead, RelayContext
from msgrelay.collect import NewEmailMessage, NewInternalMessage, NewSmsMessage
from msgrelay.errors import ConfigurationError, ValidationError

NOW = 1768473000.0
KEY = "key-not-used-here-0000"


def _settings(**values: object) -> CollectSettings:
    return CollectSettings(api_key=KEY, **{"request_id": "DefaultReq0000001", **values})  # type: ignore[arg-type]


def test_internal_is_one_marked_note_with_every_text_under_its_type(
    make_delivery: Callable[..., Delivery],
) -> None:
    """One internal note: title names the person, each non-null text under a heading, the key last."""
    delivery = make_delivery()
    plan = plan_delivery(delivery, _settings(), now=NOW)
    [(marker, note)] = plan.drafts
    assert isinstance(note, NewInternalMessage)
    assert marker == f"msgrelay:{delivery.key}"
    assert note.title == "Generated outreach messages: Ada Example (crm-000123)"
    assert note.text == (
        "### connection_request\n\nHi Ada, saw your talk on typed relays.\n\n"
        "### first_follow_up\n\nThanks for connecting, Ada. Happy to share notes.\n\n"
        f"msgrelay:{delivery.key}"
    )
    assert "hiring_activity" not in (note.text or "")


def test_the_lead_column_beats_the_default_request(make_delivery: Callable[..., Delivery]) -> None:
    """A lead's ``collect_request_id`` is where it goes; the setting is the fallback."""
    with_column = plan_delivery(make_delivery(collect_request_id="LeadsOwnRequest01"), _settings(), now=NOW)
    assert (with_column.request_id, with_column.request_source) == (
        "LeadsOwnRequest01",
        "the lead's collect_request_id",
    )
    fallback = plan_delivery(make_delivery(), _settings(), now=NOW)
    assert (fallback.request_id, fallback.request_source) == (
        "DefaultReq0000001",
        "MSGRELAY_COLLECT_REQUEST_ID",
    )


def test_no_request_anywhere_is_a_permanent_failure_naming_the_lead(
    make_delivery: Callable[..., Delivery],
) -> None:
    """Without the column and the setting, the lead fails before any request, naming both."""
    with pytest.raises(ValidationError) as caught:
        plan_delivery(make_delivery("crm-9"), CollectSettings(api_key=KEY), now=NOW)
    text = str(caught.value)
    assert "lead crm-9" in text
    assert "collect_request_id" in text
    assert "MSGRELAY_COLLECT_REQUEST_ID" in text


def test_a_lead_with_only_null_texts_writes_nothing(make_delivery: Callable[..., Delivery]) -> None:
    """Null (and blank) messages are never written: nothing to write, nothing planned."""
    plan = plan_delivery(
        make_delivery(messages={"connection_request": None, "first_follow_up": "  "}), _settings(), now=NOW
    )
    assert plan.drafts == ()


def test_email_is_one_scheduled_message_per_text(make_delivery: Callable[..., Delivery]) -> None:
    """Email: one message per non-null text, the subject from the title, ``sendOn`` the delay from now,
    and a short per-type marker on the last line."""
    delivery = make_delivery()
    plan = plan_delivery(delivery, _settings(channel="email", send_after=600), now=NOW)
    assert len(plan.drafts) == 2
    for (marker, draft), kind in zip(plan.drafts, ["connection_request", "first_follow_up"], strict=True):
        assert isinstance(draft, NewEmailMessage)
        assert marker == "msgrelay:" + delivery.message_key(kind)[:14]
        assert draft.body.endswith("\n\n" + marker)
        assert draft.title == "Generated outreach messages"
        assert draft.send_on == datetime(2026, 1, 15, 10, 40, tzinfo=UTC)
    assert plan.drafts[0][0] != plan.drafts[1][0]


def test_a_text_too_short_for_sms_fails_naming_lead_and_limit(make_delivery: Callable[..., Delivery]) -> None:
    """Collect's 20-character body minimum is checked on the text itself (not counting the marker)."""
    delivery = make_delivery("crm-7", messages={"connection_request": "Hi Ada!", "first_follow_up": "x" * 25})
    with pytest.raises(ValidationError) as caught:
        plan_delivery(delivery, _settings(channel="sms"), now=NOW)
    text = str(caught.value)
    assert "lead crm-7" in text
    assert "connection_request: is 7 characters; Collect wants at least 20" in text
    assert caught.value.paths == ["connection_request"]
    ok = plan_delivery(
        make_delivery(messages={"first_follow_up": "x" * 20}), _settings(channel="sms"), now=NOW
    )
    assert isinstance(ok.drafts[0][1], NewSmsMessage)


def test_a_collect_message_is_refused() -> None:
    """A delivery from a Collect batch (no lead) is a configuration mistake, not retried."""
    delivery = Delivery(
        destination="collect",
        key="d_0",
        context=RelayContext(source=COLLECT, batch_id="NxAHPWu9hRzcyD24m"),
        message={"id": "msg_1"},
    )
    with pytest.raises(ConfigurationError, match="not written back"):
        plan_delivery(delivery, _settings(), now=NOW)


def test_lead_field_reads_an_attribute_then_extra() -> None:
    """The one accessor for submitted fields: a named attribute wins, ``extra`` is the fallback."""
    lead = Lead(external_prospect_id="crm-1", linkedin="https://l/", extra={"email": "a@example.org"})
    assert lead_field(lead, "linkedin") == "https://l/"
    assert lead_field(lead, "email") == "a@example.org"
    assert lead_field(lead, "crm_id") is None
