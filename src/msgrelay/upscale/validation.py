"""Local checks of a generation request against the vendor's documented rules.

`check_generation_request` returns every problem, each named by its wire path
(``lead_data[2].first_name``); `validate_generation_request` raises them as one `ValidationError`.
The client calls it before sending, so a bad request never leaves the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from msgrelay.errors import Problem, ValidationError
from msgrelay.transport.redact import redact_url
from msgrelay.upscale.models import HIRING_ACTIVITY, SHARE_MATERIAL, GenerationRequest, LeadInput

#: The vendor's own wording (contract §5), so local and remote errors read alike.
REQUIRED = "is required but was missing or blank"
NOT_HTTP_URL = "must be a valid HTTP or HTTPS URL"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Top-level fields the vendor requires, non-blank (the sandbox checks the same list).
REQUIRED_TOP_LEVEL = (
    "completion_notification_url",
    "automation_tool_customer_id",
    "automation_tool_campaign_id",
    "automation_tool_campaign_name",
    "proposition_company_name",
    "proposition_company_url",
)
_URL_TOP_LEVEL = ("completion_notification_url", "proposition_company_url", "material_link")
_TOP_LEVEL_FIELDS = tuple(a.name for a in attrs.fields(GenerationRequest) if a.name != "extra")
_LEAD_FIELDS = tuple(a.name for a in attrs.fields(LeadInput) if a.name != "extra")
#: Lead fields the vendor requires, non-blank.
REQUIRED_LEAD = ("external_prospect_id", "linkedin", "first_name", "lead_company")
_URL_LEAD = ("linkedin", "lead_specified_url", "lead_company_website_url")


def is_blank(value: Any) -> bool:
    """True for None, a non-string, or a string of only white space."""
    return not isinstance(value, str) or not value.strip()


def is_http_url(value: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)


def _required_and_urls(
    obj: object, required: tuple[str, ...], urls: tuple[str, ...], prefix: str = ""
) -> Iterator[Problem]:
    for name in required:
        if is_blank(getattr(obj, name)):
            yield Problem(f"{prefix}{name}", REQUIRED)
    for name in urls:
        value = getattr(obj, name)
        if not is_blank(value) and not is_http_url(value):
            yield Problem(f"{prefix}{name}", f"{NOT_HTTP_URL}, got {redact_url(value)!r}")


def _sequence_problems(request: GenerationRequest) -> Iterator[Problem]:
    steps = request.message_sequence
    if not steps:
        yield Problem("message_sequence", "must contain at least one step")
        return
    for index, item in enumerate(steps):
        if type(item.step) is not int or item.step < 1:
            yield Problem(
                f"message_sequence[{index}].step", f"must be an integer of at least 1, got {item.step!r}"
            )
        if is_blank(item.message_type):
            yield Problem(f"message_sequence[{index}].messageType", REQUIRED)
    numbers = [s.step for s in steps if type(s.step) is int]
    if numbers and min(numbers) > 1:  # below 1 is already reported per step
        first = next(i for i, s in enumerate(steps) if s.step == min(numbers))
        yield Problem(
            f"message_sequence[{first}].step", f"steps must start at 1, the first is {min(numbers)}"
        )
    types = {s.message_type for s in steps}
    if SHARE_MATERIAL in types and is_blank(request.material_link):
        yield Problem("material_link", f"is required when message_sequence includes {SHARE_MATERIAL}")
    if HIRING_ACTIVITY in types and is_blank(request.hiring_location):
        yield Problem("hiring_location", f"is required when message_sequence includes {HIRING_ACTIVITY}")


def _shadowed(extra: dict[str, object], declared: tuple[str, ...], prefix: str = "") -> Iterator[Problem]:
    for name in sorted(extra.keys() & set(declared)):
        yield Problem(f"{prefix}{name}", "given twice: as a field and in extra; set the field only")


def _lead_problems(leads: Sequence[LeadInput]) -> Iterator[Problem]:
    if not leads:
        yield Problem("lead_data", "must contain at least one lead")
        return
    seen: dict[str, int] = {}
    for index, lead in enumerate(leads):
        prefix = f"lead_data[{index}]."
        yield from _shadowed(lead.extra, _LEAD_FIELDS, prefix)
        yield from _required_and_urls(lead, REQUIRED_LEAD, _URL_LEAD, prefix)
        prospect = lead.external_prospect_id
        if not is_blank(prospect):
            if prospect in seen:
                yield Problem(
                    f"{prefix}external_prospect_id",
                    f"duplicates lead_data[{seen[prospect]}]; "
                    "Upscale de-duplicates by lead id and message type",
                )
            else:
                seen[prospect] = index


def check_generation_request(request: GenerationRequest) -> list[Problem]:
    """Every problem with ``request``, in wire order; empty when it is valid."""
    problems = list(_shadowed(request.extra, _TOP_LEVEL_FIELDS))
    problems.extend(_required_and_urls(request, REQUIRED_TOP_LEVEL, _URL_TOP_LEVEL))
    problems.extend(_sequence_problems(request))
    problems.extend(_lead_problems(request.lead_data))
    return problems


def validate_generation_request(request: GenerationRequest) -> None:
    """Raise one `ValidationError` listing every problem, or return if ``request`` is valid."""
    problems = check_generation_request(request)
    if problems:
        raise ValidationError(problems, subject="generation request")


def validate_secure_request_id(value: str) -> str:
    """The id, stripped, if it has the UUID shape 8-4-4-4-12; else a `ValidationError`.

    The version nibble is not checked: the contract says UUID v4, but rejecting a server-issued id
    over it would only get in the way.
    """
    candidate = value.strip() if isinstance(value, str) else ""
    if not _UUID.match(candidate):
        raise ValidationError(
            Problem(
                "request_message_generation_secure_request_id",
                f"must be a UUID like a8bd1fec-94dd-4d6a-b54d-2109994748ac, got {value!r:.80}",
            ),
            subject="secure_request_id",
        )
    return candidate.lower()
