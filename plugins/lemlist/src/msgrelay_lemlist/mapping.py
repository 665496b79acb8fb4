"""From a msgrelay lead to a lemlist lead: fields, one custom variable per message, the length checks.

=================================== =========================================================
msgrelay lead                       lemlist lead (``POST /campaigns/{id}/leads/`` body)
=================================== =========================================================
``email``                           ``email``
``first_name`` / ``last_name``      ``firstName`` / ``lastName``
``lead_company`` (or ``company``)   ``companyName``
``linkedin``                        ``linkedinUrl``, canonical ``https://www.linkedin.com/in/<slug>/``
``external_prospect_id``            custom variable ``upscaleProspectId``
``messages[type]`` (not null)       custom variable ``upscale<Type>``: ``upscaleConnectionRequest``...
=================================== =========================================================

Every value is a string (lemlist's schema: ``additionalProperties: {type: string}``). A null message is
left out, so it never overwrites an earlier text. Checks run before any request: a lead needs an email
or a LinkedIn URL, and a text longer than LinkedIn takes is refused (`ValidationError`, permanent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from msgrelay.errors import Problem, ValidationError
from msgrelay.upscale import Lead

__all__ = [
    "CONNECTION_NOTE_LIMIT",
    "MESSAGE_LIMIT",
    "PROSPECT_VARIABLE",
    "canonical_linkedin",
    "lead_body",
    "lead_field",
    "variable_name",
    "variables",
]

#: LinkedIn's cap on an invitation note, widely reported as 300 characters (200 on some free accounts).
CONNECTION_NOTE_LIMIT = 300
#: LinkedIn's cap on a message (8,000 characters).
MESSAGE_LIMIT = 8000
#: The custom variable holding the Upscale lead id.
PROSPECT_VARIABLE = "upscaleProspectId"
_CONNECTION_REQUEST = "connection_request"
_WORD = re.compile(r"[A-Za-z0-9]+")


def lead_field(lead: Lead, name: str) -> str | None:
    """A submitted field of the lead by wire name: a named attribute first, then ``lead.extra``.

    The one place that knows where the submitted lead's fields live (``email``, ``first_name``,
    ``lead_company``...); blank values count as absent.
    """
    value: Any = getattr(lead, name, None)
    if value is None:
        value = lead.extra.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def variable_name(message_type: str) -> str:
    """The custom variable of a message type: ``first_follow_up`` → ``upscaleFirstFollowUp``."""
    return "upscale" + "".join(word[:1].upper() + word[1:] for word in _WORD.findall(message_type))


def canonical_linkedin(url: str) -> str:
    """``https://www.linkedin.com/in/<slug>/``: regional hosts, tracking parameters and extra parts
    removed, so a person matches on it. Anything that is not a LinkedIn profile URL is kept as given."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else "https://" + text)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        return text
    if len(segments) < 2 or segments[0].lower() != "in":
        return text
    return f"https://www.linkedin.com/in/{quote(segments[1], safe='%-_.~')}/"


def variables(lead: Lead) -> dict[str, str]:
    """The lead's custom variables: the Upscale id and one per generated (non-null) message."""
    found = {PROSPECT_VARIABLE: lead.external_prospect_id}
    for message_type, text in lead.messages.items():
        if text is not None:
            found[variable_name(message_type)] = str(text)
    return found


def lead_body(
    lead: Lead,
    *,
    connection_note_limit: int = CONNECTION_NOTE_LIMIT,
    message_limit: int = MESSAGE_LIMIT,
) -> dict[str, str]:
    """The JSON body that adds ``lead`` to a campaign, checked first.

    Raises:
        ValidationError: the lead has neither an email nor a LinkedIn URL, or a text is over its limit;
            each problem names the lead and the field (``lead crm-1: messages.connection_request``).
    """
    problems: list[Problem] = []
    where = f"lead {lead.external_prospect_id}"
    for message_type, text in lead.messages.items():
        if text is None:
            continue
        limit = connection_note_limit if message_type == _CONNECTION_REQUEST else message_limit
        if len(text) > limit:
            what = "invitation note" if message_type == _CONNECTION_REQUEST else "message"
            problems.append(
                Problem(
                    f"{where}: messages.{message_type}",
                    f"{len(text)} characters, over LinkedIn's {limit}-character {what} limit",
                )
            )
    email = lead_field(lead, "email")
    linkedin = lead.linkedin.strip() if lead.linkedin and lead.linkedin.strip() else None
    if email is None and linkedin is None:
        problems.append(
            Problem(f"{where}: email", "lemlist needs an email or a linkedin URL; neither is set")
        )
    if problems:
        raise ValidationError(problems, subject="lemlist lead")
    named: Mapping[str, str | None] = {
        "email": email,
        "firstName": lead_field(lead, "first_name"),
        "lastName": lead_field(lead, "last_name"),
        "companyName": lead_field(lead, "lead_company") or lead_field(lead, "company"),
        "linkedinUrl": canonical_linkedin(linkedin) if linkedin else None,
    }
    body = {key: value for key, value in named.items() if value is not None}
    body.update(variables(lead))
    return body
