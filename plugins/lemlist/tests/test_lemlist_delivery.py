"""Delivering to the emulator on loopback: the lead and its variables, retries that never duplicate,
the running-campaign gate, auth failures, text/plain errors, and secrecy."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from msgrelay_lemlist import (
    CampaignRunningError,
    LemlistDestination,
    LemlistEmulator,
    NotSentError,
    OtherCampaignError,
    is_retryable,
)
from msgrelay_lemlist.emulator import RunningEmulator

from msgrelay import Delivery
from msgrelay.errors import AuthenticationError, NotFoundError, ServerError, ValidationError


def test_adds_the_lead_with_one_variable_per_message(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """One POST to the campaign's leads: canonical LinkedIn URL, submitted fields, texts as strings,
    the null message left out; Basic auth with an empty user name."""
    delivery = make_delivery(email="ada@example.org", first_name="Ada", lead_company="Example Labs")
    make_destination().deliver(delivery)
    [lead] = running.received()
    assert lead["campaignId"] == running.campaign_id
    assert lead["email"] == "ada@example.org"
    assert lead["firstName"] == "Ada"
    assert lead["companyName"] == "Example Labs"
    assert lead["linkedinUrl"] == "https://www.linkedin.com/in/ada-example/"
    assert lead["upscaleProspectId"] == "crm-000123"
    assert lead["upscaleConnectionRequest"] == "Hi Ada, saw your talk on typed relays."
    assert lead["upscaleFirstFollowUp"] == "Thanks for connecting, Ada."
    assert "upscaleHiringActivity" not in lead
    posts = [r for r in running.emulator.requests if r.method == "POST"]
    assert [(r.path, r.query) for r in posts] == [
        (f"/api/campaigns/{running.campaign_id}/leads/", {"deduplicate": "false"})
    ]


def test_already_in_the_campaign_updates_the_variables(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A second delivery of the same person is answered "Lead already in the campaign": its texts are
    updated instead, a null message does not erase the earlier text, and no second lead appears."""
    destination = make_destination()
    destination.deliver(make_delivery())
    destination.deliver(
        make_delivery(messages={"connection_request": "A better opener.", "first_follow_up": None})
    )
    [lead] = running.received()
    assert lead["upscaleConnectionRequest"] == "A better opener."
    assert lead["upscaleFirstFollowUp"] == "Thanks for connecting, Ada."
    patches = [r for r in running.emulator.requests if r.method == "PATCH"]
    assert [r.path for r in patches] == [f"/api/leads/{lead['_id']}/variables"]
    assert "upscaleFirstFollowUp" not in patches[0].query


def test_already_in_the_campaign_found_by_email(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """With an email, the lead already in the campaign is looked up by email (``GET /leads?email=``)."""
    destination = make_destination()
    destination.deliver(make_delivery(email="ada@example.org", linkedin=None))
    destination.deliver(make_delivery(email="ada@example.org", linkedin=None, messages={"x_y": "new"}))
    [lead] = running.received()
    assert lead["upscaleXY"] == "new"
    assert [r.query for r in running.emulator.requests if r.path == "/api/leads"] == [
        {"email": "ada@example.org"}
    ]


def test_a_500_after_the_lead_was_created_never_duplicates(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """lemlist creates the lead but the answer is a 500: the failure is retryable, and the retry finds
    the lead already there and updates it, so lemlist holds it once."""
    destination = make_destination()
    running.emulator.fail_next(500, method="POST", body="Internal error", after_processing=True)
    with pytest.raises(ServerError, match="Internal error") as caught:
        destination.deliver(make_delivery())
    assert is_retryable(caught.value)
    destination.deliver(make_delivery(attempt=2))
    assert len(running.received()) == 1


def test_a_running_campaign_is_refused_and_nothing_is_added(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A running campaign would send at once: every lead fails permanently saying why and naming the
    setting, and no lead is created."""
    running.emulator.add_campaign(running.campaign_id, status="running")
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2", linkedin="https://linkedin.com/in/b")]
    failures = make_destination().deliver_many(deliveries)
    assert set(failures) == {d.key for d in deliveries}
    error = failures[deliveries[0].key]
    assert isinstance(error, CampaignRunningError)
    assert not is_retryable(error)
    assert "running" in str(error)
    assert "MSGRELAY_LEMLIST_ALLOW_RUNNING" in str(error)
    assert "\n" not in str(error)
    assert running.received() == []
    assert not [r for r in running.emulator.requests if r.method == "POST"]


def test_a_running_campaign_is_used_when_allowed(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """``allow_running`` lets leads into a running campaign."""
    running.emulator.add_campaign(running.campaign_id, status="running")
    make_destination(allow_running=True).deliver(make_delivery())
    assert len(running.received()) == 1


def test_an_auth_failure_is_permanent_names_the_setting_and_stops_the_batch(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A refused key: one line naming lemlist and ``MSGRELAY_LEMLIST_API_KEY``, never the key; not
    retryable; the campaign check fails it for every lead of the batch and nothing is added."""
    wrong = "wrong-key-1234567890abcdef"
    deliveries = [make_delivery("crm-1"), make_delivery("crm-2")]
    failures = make_destination(api_key=wrong).deliver_many(deliveries)
    error = failures[deliveries[0].key]
    assert isinstance(error, AuthenticationError)
    assert failures[deliveries[1].key] is error
    text = str(error)
    assert "lemlist" in text
    assert "MSGRELAY_LEMLIST_API_KEY" in text
    assert "The authentication you supplied is incorrect" in text
    assert wrong not in text
    assert "\n" not in text
    assert error.response is None
    assert not is_retryable(error)
    assert running.received() == []


def test_an_endpoint_failure_mid_batch_leaves_the_rest_unsent(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A 503 on the second lead: the first is delivered, the second fails retryably, the third is not
    sent (`NotSentError`, as retryable as its cause)."""
    deliveries = [make_delivery(f"crm-{i}", linkedin=f"https://linkedin.com/in/p{i}") for i in range(3)]
    destination = make_destination()
    destination.deliver(deliveries[0])
    running.emulator.fail_next(503, method="POST", body="Service unavailable")
    failures = destination.deliver_many(deliveries[1:])
    assert isinstance(failures[deliveries[1].key], ServerError)
    assert isinstance(failures[deliveries[2].key], NotSentError)
    assert is_retryable(failures[deliveries[2].key])
    assert len(running.received()) == 1
    assert destination.deliver_many(deliveries) == {}
    assert len(running.received()) == 3


def test_a_rejected_lead_fails_alone(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A lead that is too long fails permanently before anything is sent, naming the lead and the
    limit; the other leads of the batch are delivered."""
    good, long = make_delivery("crm-1"), make_delivery("crm-2", messages={"connection_request": "x" * 301})
    failures = make_destination().deliver_many([long, good])
    assert list(failures) == [long.key]
    error = failures[long.key]
    assert isinstance(error, ValidationError)
    assert "lead crm-2: messages.connection_request" in str(error)
    assert "300-character" in str(error)
    assert not is_retryable(error)
    assert [lead["upscaleProspectId"] for lead in running.received()] == ["crm-1"]


def test_text_plain_errors_are_read_as_text(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
) -> None:
    """A missing campaign is lemlist's text/plain ``Campaign not found`` plus the setting to fix."""
    with pytest.raises(NotFoundError) as caught:
        make_destination(campaign_id="cam_Missing").deliver(make_delivery())
    assert "Campaign not found" in str(caught.value)
    assert "MSGRELAY_LEMLIST_CAMPAIGN_ID" in str(caught.value)
    assert not is_retryable(caught.value)


def test_a_lead_in_another_campaign_is_a_permanent_business_refusal(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    emulator: LemlistEmulator,
    running: RunningEmulator,
) -> None:
    """lemlist's 500 ``Lead already in other campaign`` is a business rule, not an outage: no retry."""
    emulator.fail_next(500, method="POST", body="Lead already in other campaign")
    with pytest.raises(OtherCampaignError) as caught:
        make_destination().deliver(make_delivery())
    assert not is_retryable(caught.value)


def test_the_key_stays_out_of_reprs_and_logs(
    make_destination: Callable[..., LemlistDestination],
    make_delivery: Callable[..., Delivery],
    running: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the destination, its settings, its client nor a debug log line shows the key."""
    caplog.set_level(logging.DEBUG)
    destination = make_destination()
    running.emulator.fail_next(429, headers={"Retry-After": "1"})
    destination.deliver(make_delivery())
    key = running.emulator.api_key
    shown = " ".join([repr(destination), repr(destination.settings), repr(destination.client), caplog.text])
    assert "429" in caplog.text
    assert key not in shown


def test_check_reads_the_key_and_the_campaign(
    make_destination: Callable[..., LemlistDestination], running: RunningEmulator
) -> None:
    """``check`` proves the key (``GET /team``) and says the campaign's status; a running campaign
    without the setting fails the check, naming it."""
    assert "is paused" in make_destination().check()
    running.emulator.add_campaign(running.campaign_id, status="running")
    with pytest.raises(CampaignRunningError, match="MSGRELAY_LEMLIST_ALLOW_RUNNING"):
        make_destination().check()
    with pytest.raises(AuthenticationError, match="MSGRELAY_LEMLIST_API_KEY"):
        make_destination(api_key="not-the-key").check()
