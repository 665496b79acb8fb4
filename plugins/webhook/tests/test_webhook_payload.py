"""The request body: the envelope, the normalised lead, canonical LinkedIn URLs, the exact bytes."""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs
import pytest
from msgrelay_webhook import COLLECT_MESSAGE_EVENT, LEAD_EVENT, build_payload, canonical_linkedin, encode_body

from msgrelay import COLLECT, Delivery, RelayContext


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://www.linkedin.com/in/ada-example/", "https://www.linkedin.com/in/ada-example/"),
        ("https://www.linkedin.com/in/ada-example", "https://www.linkedin.com/in/ada-example/"),
        (
            "http://UK.LinkedIn.com/in/ada-example?trk=public_profile#about",
            "https://www.linkedin.com/in/ada-example/",
        ),
        ("https://linkedin.com/in/ada-example//", "https://www.linkedin.com/in/ada-example/"),
        ("linkedin.com/in/ada-example", "https://www.linkedin.com/in/ada-example/"),
        (
            "https://www.linkedin.com/in/ada-example/details/experience/",
            "https://www.linkedin.com/in/ada-example/",
        ),
        (
            "https://www.linkedin.com/in/jos%c3%a9-garc%C3%ADa/",
            "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa/",
        ),
        ("https://www.linkedin.com/in/josé-garcía", "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa/"),
        ("https://www.linkedin.com/company/example-labs", "https://www.linkedin.com/company/example-labs/"),
        ("  https://example.org/in/ada  ", "https://example.org/in/ada"),
        ("", ""),
    ],
)
def test_canonical_linkedin(given: str, canonical: str) -> None:
    """Regional hosts, tracking parameters, fragments, extra path parts, slashes and encodings all fold
    into one ``https://www.linkedin.com/in/<slug>/`` form; other URLs are left alone."""
    assert canonical_linkedin(given) == canonical


def test_canonical_linkedin_of_none() -> None:
    """A lead without a LinkedIn URL keeps None."""
    assert canonical_linkedin(None) is None


def test_lead_payload(make_delivery: Callable[..., Delivery], now: float) -> None:
    """The envelope carries the normalised lead: ids, canonical URL, non-null messages, flat copies, key."""
    delivery = make_delivery(no_job_posts=True)
    payload = build_payload(delivery, now=now)
    assert payload == {
        "type": LEAD_EVENT,
        "timestamp": "2026-01-15T10:30:00Z",
        "data": {
            "delivery_key": delivery.key,
            "source": "upscale",
            "secure_request_id": "5d1c7e2a-0b8f-4c3e-9a61-7f2d4b8e0c13",
            "customer_id": "customer_12345",
            "campaign_id": "campaign_67890",
            "campaign_name": "Campaign 1 - North America",
            "external_prospect_id": "crm-000123",
            "linkedin": "https://www.linkedin.com/in/ada-example/",
            "no_job_posts": True,
            "messages": {
                "connection_request": "Hi Ada, saw your talk on typed relays.",
                "first_follow_up": "Thanks for connecting, Ada.",
            },
            "message_connection_request": "Hi Ada, saw your talk on typed relays.",
            "message_first_follow_up": "Thanks for connecting, Ada.",
            "null_messages": ["hiring_activity"],
            "status_message": None,
            "failed_messages_reason": None,
            "requested_message_count": None,
            "generated_message_count": None,
            "failed_messages_count": None,
        },
    }


def test_the_joined_lead_and_the_batch_failures_are_carried(
    make_delivery: Callable[..., Delivery], now: float
) -> None:
    """Submitted fields (named and extra columns), null types and the vendor's reasons reach the receiver."""
    delivery = make_delivery(no_job_posts=True)
    assert delivery.lead is not None
    lead = attrs.evolve(
        delivery.lead,
        first_name="Ada",
        lead_company="Example Labs",
        extra={"email": "a@x.org", "crm_id": "7"},
    )
    context = attrs.evolve(
        delivery.context, failed_messages_reason="No hiring activity found.", failed_messages_count=1
    )
    data = build_payload(attrs.evolve(delivery, lead=lead, context=context), now=now)["data"]
    assert (data["first_name"], data["lead_company"], data["email"]) == ("Ada", "Example Labs", "a@x.org")
    assert data["extra"] == {"crm_id": "7"}
    assert data["null_messages"] == ["hiring_activity"]
    assert (data["failed_messages_reason"], data["failed_messages_count"]) == ("No hiring activity found.", 1)


def test_null_messages_are_left_out(make_delivery: Callable[..., Delivery], now: float) -> None:
    """A message that was not generated appears neither nested nor flat, so no receiver blanks a text."""
    data = build_payload(make_delivery(), now=now)["data"]
    assert "hiring_activity" not in data["messages"]
    assert "message_hiring_activity" not in data


def test_lead_attributes_are_lifted_and_the_rest_kept(
    make_delivery: Callable[..., Delivery], now: float
) -> None:
    """email, names, company and generated_at come up to the top level; other lead keys stay under
    ``extra``; the lead's own ``generated_at`` is the event time."""
    delivery = make_delivery(
        extra={
            "email": "ada@example.org",
            "first_name": "Ada",
            "generated_at": "2026-01-14T08:00:00Z",
            "tier": 2,
        }
    )
    payload = build_payload(delivery, now=now)
    assert payload["timestamp"] == "2026-01-14T08:00:00Z"
    data = payload["data"]
    assert (data["email"], data["first_name"], data["generated_at"]) == (
        "ada@example.org",
        "Ada",
        "2026-01-14T08:00:00Z",
    )
    assert data["extra"] == {"tier": 2}
    assert "last_name" not in data


def test_collect_message_payload(now: float) -> None:
    """A Collect message is forwarded as it is stored, with its request id and the delivery key."""
    message = {"id": "msg_1", "channel": "email", "body": "Please upload the form."}
    delivery = Delivery(
        destination="webhook",
        key="d_abc",
        context=RelayContext(source=COLLECT, batch_id="req_9"),
        message=message,
    )
    assert build_payload(delivery, now=now) == {
        "type": COLLECT_MESSAGE_EVENT,
        "timestamp": "2026-01-15T10:30:00Z",
        "data": {"delivery_key": "d_abc", "source": "collect", "request_id": "req_9", "message": message},
    }


def test_body_is_compact_utf8_json() -> None:
    """The body is serialised once, without spaces, with non-ASCII text as UTF-8 rather than escapes."""
    body = encode_body({"b": "José", "a": [1, None]})
    assert body == '{"b":"José","a":[1,null]}'.encode()
    assert json.loads(body) == {"b": "José", "a": [1, None]}


def test_body_is_the_same_for_the_same_delivery(make_delivery: Callable[..., Delivery], now: float) -> None:
    """Built twice (a retry), the same delivery at the same time gives the same bytes."""
    assert encode_body(build_payload(make_delivery(), now=now)) == encode_body(
        build_payload(make_delivery(attempt=2), now=now)
    )
