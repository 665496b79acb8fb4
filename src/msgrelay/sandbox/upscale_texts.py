"""Deterministic message texts the Upscale emulator "generates" from lead and proposition fields.

The same inputs always give the same text, so cassettes and demo output are stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Fields = Mapping[str, Any]


def _sign(request: Fields) -> str:
    name = request.get("signoff_name")
    return f"\n\n{name}" if isinstance(name, str) and name.strip() else ""


def connection_request(lead: Fields, request: Fields) -> str:
    return (
        f"Hi {lead['first_name']}, I came across your work at {lead['lead_company']} and would love to "
        f"connect. We help teams like yours at {request['proposition_company_name']}."
    )


def first_follow_up(lead: Fields, request: Fields) -> str:
    return (
        f"Thanks for connecting, {lead['first_name']}! Teams like {lead['lead_company']} use "
        f"{request['proposition_company_name']} ({request['proposition_company_url']}) to cut the busywork "
        f"out of outreach. Worth a 15-minute chat next week?{_sign(request)}"
    )


def share_material(lead: Fields, request: Fields) -> str:
    return (
        f"{lead['first_name']}, thought this might be useful for {lead['lead_company']}: "
        f"{request['material_link']}{_sign(request)}"
    )


def hiring_activity(lead: Fields, request: Fields) -> str:
    return (
        f"Noticed {lead['lead_company']} is hiring in {request['hiring_location']}, congrats on the growth, "
        f"{lead['first_name']}. New teams often need {request['proposition_company_name']} early."
        f"{_sign(request)}"
    )


def stage_ambition(lead: Fields, request: Fields) -> str:
    return (
        f"{lead['first_name']}, as {lead['lead_company']} scales its next stage, a quick idea from "
        f"{request['proposition_company_name']} that might help you get there faster.{_sign(request)}"
    )


WRITERS: Mapping[str, Callable[[Fields, Fields], str]] = {
    "connection_request": connection_request,
    "first_follow_up": first_follow_up,
    "share_material": share_material,
    "hiring_activity": hiring_activity,
    "stage_ambition": stage_ambition,
}
