"""The destination against the emulated portal: upserts, partial failures, limits, notes, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from msgrelay_hubspot import (
    EMULATOR_TOKEN,
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotDestination,
    HubSpotEmulator,
    RecordError,
)
from msgrelay_hubspot.emulator import Fault

from msgrelay import Delivery
from msgrelay.errors import BadRequestError, RateLimitedError, ServerError, ValidationError
from msgrelay.transport import is_permanent, server_wait

Make = Callable[..., HubSpotDestination]
MakeDelivery = Callable[..., Delivery]


def _by_email(emulator: HubSpotEmulator) -> dict[str, dict[str, str]]:
    return {c["properties"]["email"]: c["properties"] for c in emulator.received()}


def test_upsert_writes_messages_and_contact_fields(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """A lead becomes a contact keyed by email, each text in ``msgrelay_<type>``, a null one left out."""
    with_props = make_destination(create_properties=True)
    assert with_props.deliver_many([make_delivery()]) == {}
    [contact] = emulator.received()
    assert contact["properties"] == {
        "email": "crm-000123@example.org",
        "firstname": "Ada",
        "company": "Example Labs",
        "hs_linkedin_url": "https://www.linkedin.com/in/ada-example/",
        "msgrelay_connection_request": "Hi Ada, saw your talk on typed relays.",
        "msgrelay_first_follow_up": "Thanks for connecting, Ada.",
    }
    [upsert] = emulator.calls("/crm/v3/objects/contacts/batch/upsert")
    assert upsert["inputs"][0]["idProperty"] == "email"
    assert "msgrelay_hiring_activity" not in upsert["inputs"][0]["properties"]


def test_null_message_never_overwrites_and_known_fields_are_kept(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """A later lead with a null text keeps the earlier text; a first name HubSpot has is not replaced."""
    destination = make_destination(create_properties=True)
    assert destination.deliver_many([make_delivery()]) == {}
    later = make_delivery(
        messages={"connection_request": None, "first_follow_up": "A new follow-up."}, first_name="Ada-Renamed"
    )
    assert destination.deliver_many([later]) == {}
    props = _by_email(emulator)["crm-000123@example.org"]
    assert props["msgrelay_connection_request"] == "Hi Ada, saw your talk on typed relays."
    assert props["msgrelay_first_follow_up"] == "A new follow-up."
    assert props["firstname"] == "Ada"


def test_207_retries_only_the_failed_records(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """10 leads, a 207 failing 2 of them, then a second call: 10 contacts, each property set once,
    and the second upsert carries only the 2 that failed."""
    destination = make_destination(create_properties=True)
    deliveries = [make_delivery(f"crm-{i}") for i in range(10)]
    emulator.script("upsert", Fault(207, failed=(3, 7)))
    failures = destination.deliver_many(deliveries)
    assert set(failures) == {deliveries[3].key, deliveries[7].key}
    assert all(isinstance(f, RecordError) and not is_permanent(f) for f in failures.values())
    retry = [d for d in deliveries if d.key in failures]
    assert destination.deliver_many(retry) == {}
    contacts = emulator.received()
    assert len(contacts) == 10
    assert {c["properties"]["email"] for c in contacts} == {f"crm-{i}@example.org" for i in range(10)}
    for contact in emulator.contacts.values():
        assert all(len(values) == 1 for values in contact.history.values()), contact.history
    upserts = emulator.calls("/batch/upsert")
    assert [len(u["inputs"]) for u in upserts] == [10, 2]
    assert [i["id"] for i in upserts[1]["inputs"]] == ["crm-3@example.org", "crm-7@example.org"]


def test_more_than_a_batch_and_repeated_ids_split(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """At most 100 inputs per call, and the same contact twice goes in a later call, in order."""
    destination = make_destination(create_properties=True)
    deliveries = [make_delivery(f"crm-{i}") for i in range(130)]
    again = make_delivery("crm-5", messages={"connection_request": "Second text."})
    again = Delivery(
        destination=again.destination, key="d_" + "f" * 32, context=again.context, lead=again.lead
    )
    assert destination.deliver_many([*deliveries, again]) == {}
    assert [len(u["inputs"]) for u in emulator.calls("/batch/upsert")] == [100, 31]
    assert _by_email(emulator)["crm-5@example.org"]["msgrelay_connection_request"] == "Second text."


def test_missing_id_value_and_too_long_text_fail_for_good_before_sending(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """No email, or a text over 65,536 characters: a permanent failure naming the lead and the limit;
    the other leads are written."""
    destination = make_destination(create_properties=True)
    no_email = make_delivery("crm-1", email=None)
    too_long = make_delivery("crm-2", messages={"connection_request": "x" * 65_537})
    fine = make_delivery("crm-3")
    failures = destination.deliver_many([no_email, too_long, fine])
    assert set(failures) == {no_email.key, too_long.key}
    assert all(isinstance(f, ValidationError) and is_permanent(f) for f in failures.values())
    text = " ".join(str(failures[no_email.key]).split())
    assert "'crm-1'" in text
    assert "email" in text
    assert "MSGRELAY_HUBSPOT_ID_PROPERTY" in text
    text = " ".join(str(failures[too_long.key]).split())
    assert "'crm-2'" in text
    assert "65536" in text
    assert "messages.connection_request" in text
    assert [i["id"] for i in emulator.calls("/batch/upsert")[0]["inputs"]] == ["crm-3@example.org"]


def test_auth_failure_is_permanent_and_names_the_setting(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """A rejected token: every delivery fails for good, one line naming the plugin and the variable,
    never the token; the second batch is not even sent."""
    destination = make_destination(token="pat-na1-wrong-token-0123456789")
    deliveries = [make_delivery(f"crm-{i}") for i in range(150)]
    failures = destination.deliver_many(deliveries)
    assert len(failures) == 150
    error = failures[deliveries[0].key]
    assert isinstance(error, HubSpotAuthError)
    assert is_permanent(error)
    text = str(error)
    assert "\n" not in text
    assert "msgrelay-hubspot" in text
    assert "MSGRELAY_HUBSPOT_TOKEN" in text
    assert "wrong-token" not in text + repr(error)
    assert error.response is None
    assert len(emulator.requests) == 1


def test_server_error_and_rate_limit_are_retryable(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """500 → a retryable `ServerError`; 429 with Retry-After → that wait; 429 without → the policy's 10 s."""
    destination = make_destination(create_properties=True)
    delivery = make_delivery()
    emulator.script("upsert", Fault(500), Fault(429, retry_after=3), Fault(429))
    for expected, wait in ((ServerError, None), (RateLimitedError, 3.0), (RateLimitedError, 10.0)):
        error = destination.deliver_many([delivery])[delivery.key]
        assert isinstance(error, expected)
        assert not is_permanent(error)
        assert server_wait(error) == wait
    assert destination.deliver_many([delivery]) == {}
    assert len(emulator.received()) == 1


def test_daily_limit_is_not_retried(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """429 with ``policyName: DAILY`` dead-letters at once, saying when the limit resets."""
    destination = make_destination(create_properties=True)
    delivery = make_delivery()
    emulator.script("upsert", Fault(429, policy="DAILY"))
    error = destination.deliver_many([delivery])[delivery.key]
    assert isinstance(error, HubSpotDailyLimitError)
    assert is_permanent(error)
    assert "midnight" in str(error)


def test_missing_properties_say_how_to_create_them(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """Without the message properties and without creating them: a permanent 400 naming both fixes."""
    delivery = make_delivery()
    error = make_destination().deliver_many([delivery])[delivery.key]
    assert isinstance(error, BadRequestError)
    assert is_permanent(error)
    assert "msgrelay_connection_request" in str(error)
    assert "MSGRELAY_HUBSPOT_CREATE_PROPERTIES=1" in str(error)


def test_properties_are_created_once(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """Each missing message property is created on first need only; an existing one (409) is fine."""
    emulator.properties["msgrelay_first_follow_up"] = {"name": "msgrelay_first_follow_up"}
    destination = make_destination(create_properties=True)
    assert destination.deliver_many([make_delivery("crm-1")]) == {}
    assert destination.deliver_many([make_delivery("crm-2")]) == {}
    created = [b["name"] for b in emulator.calls("/crm/v3/properties/contacts")]
    assert created == ["msgrelay_connection_request", "msgrelay_first_follow_up"]
    assert emulator.properties["msgrelay_connection_request"]["fieldType"] == "textarea"


def test_date_version_moves_every_path(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """A date version moves every call under ``/crm/objects/2026-03`` or ``/crm/properties/2026-03``."""
    destination = make_destination(api_version="2026-03", create_properties=True, notes=True)
    assert destination.deliver_many([make_delivery()]) == {}
    paths = {path for _, path, _ in emulator.requests}
    assert paths == {
        "/crm/properties/2026-03/contacts",
        "/crm/objects/2026-03/contacts/batch/read",
        "/crm/objects/2026-03/contacts/batch/upsert",
        "/crm/objects/2026-03/notes/batch/create",
    }


def test_one_note_per_lead_even_when_retried(
    emulator: HubSpotEmulator, make_destination: Make, make_delivery: MakeDelivery
) -> None:
    """A note carries the delivery key; a retry (attempt 2) finds it and creates no second one, while
    a retry whose note was never created creates it."""
    destination = make_destination(create_properties=True, notes=True)
    first, second = make_delivery("crm-1"), make_delivery("crm-2")
    emulator.script("notes", Fault(207, failed=(1,)))
    failures = destination.deliver_many([first, second])
    assert set(failures) == {second.key}
    retried = [make_delivery("crm-1", attempt=2), make_delivery("crm-2", attempt=2)]
    assert destination.deliver_many(retried) == {}
    contacts = {c["properties"]["email"]: c for c in emulator.received()}
    for email, delivery in (("crm-1@example.org", first), ("crm-2@example.org", second)):
        [note] = contacts[email]["notes"]
        assert delivery.key in note
        assert "Hi Ada" in note
    assert len(emulator.notes) == 2
    assert len(emulator.calls("/notes/search")) == 2  # only the retries searched


def test_pacing_follows_the_rate_limit_headers(make_delivery: MakeDelivery, fake_time: Any) -> None:
    """When HubSpot says no request is left in the interval, the next waits for it instead of a 429."""
    from msgrelay_hubspot import HubSpotSettings, Pacer
    from msgrelay_hubspot.emulator import serve

    emulator = HubSpotEmulator(rate_max=2, interval=10.0, clock=fake_time.clock)
    with serve(emulator) as running:
        destination = HubSpotDestination(
            HubSpotSettings(token=EMULATOR_TOKEN, base_url=running.url, create_properties=True),
            pacer=Pacer(clock=fake_time.clock, sleep=fake_time.sleep),
            trust_env=False,
        )
        with destination:
            for i in range(3):
                assert destination.deliver_many([make_delivery(f"crm-{i}")]) == {}
    assert len(emulator.received()) == 3
    assert fake_time.slept
    assert all(s == pytest.approx(10.0) for s in fake_time.slept)
