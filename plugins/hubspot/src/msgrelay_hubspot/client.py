"""The HubSpot calls this destination makes: one keyword-only method per operation, over msgrelay's
`Transport` (timeouts, no redirects, errors mapped at one boundary), paced to HubSpot's limits.

Paths follow ``api_version``: ``v3`` gives ``/crm/v3/objects/contacts/batch/upsert``, a date version
``/crm/objects/2026-03/contacts/batch/upsert`` (https://developers.hubspot.com/docs/api-reference/2026-03/overview).

There are no retries inside a call: the relay owns the schedule. A batch answer of 207 is returned as
a `BatchOutcome` (what succeeded, what failed, by ``objectWriteTraceId``), not raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from msgrelay.errors import ApiError, ResponseDecodeError
from msgrelay.transport import NO_RETRIES, Transport
from msgrelay_hubspot._version import __version__
from msgrelay_hubspot.config import HubSpotSettings
from msgrelay_hubspot.errors import RecordError, refine

__all__ = [
    "BATCH_CAP",
    "NOTE_TO_CONTACT",
    "BatchOutcome",
    "HubSpotClient",
    "Pacer",
]

#: Inputs per batch call (HubSpot's object batch endpoints take at most 100).
BATCH_CAP = 100
#: HubSpot-defined association type of a note to a contact.
NOTE_TO_CONTACT = 202
#: Search endpoints allow 5 requests a second per account (and send no rate-limit headers).
SEARCH_INTERVAL = 0.2


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; the token never shows in a repr."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer('***')"


@dataclass
class Pacer:
    """Keeps under HubSpot's burst limit from its own headers, and under the search limit by spacing.

    After an answer says ``X-HubSpot-RateLimit-Remaining: 0``, the next request waits one
    ``X-HubSpot-RateLimit-Interval-Milliseconds``; search requests are at least `SEARCH_INTERVAL` apart.
    The limits are shared by every app of the portal, so the plugin throttles itself rather than
    spending the customer's error budget on 429s.
    """

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _not_before: float = 0.0
    _search_not_before: float = 0.0

    def before(self, *, search: bool = False) -> None:
        """Wait until the next request may go."""
        due = max(self._not_before, self._search_not_before if search else 0.0)
        wait = due - self.clock()
        if wait > 0:
            self.sleep(wait)
        if search:
            self._search_not_before = self.clock() + SEARCH_INTERVAL

    def after(self, headers: Mapping[str, str]) -> None:
        """Read the rate-limit headers of an answer."""
        remaining = _number(headers.get("X-HubSpot-RateLimit-Remaining"))
        interval = _number(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if remaining is not None and remaining <= 0:
            self._not_before = self.clock() + (interval or 10_000) / 1000


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class BatchOutcome:
    """A batch call's answer: records by ``objectWriteTraceId``, and the failed ones' errors."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, RecordError] = field(default_factory=dict)


class HubSpotClient:
    """The HubSpot CRM calls of this destination.

    Args:
        settings: token, base URL, API version, timeout.
        session: a `requests.Session` to use (the client then does not close it).
        pacer: the rate pacing (tests inject a clock and a sleep).
        trust_env: whether `requests` reads proxy settings from the environment.
    """

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        session: requests.Session | None = None,
        pacer: Pacer | None = None,
        trust_env: bool = True,
    ) -> None:
        self.settings = settings
        self.pacer = pacer or Pacer()
        self.transport = Transport(
            base_url=settings.base_url,
            auth=_Bearer(settings.token),
            secrets=(settings.token,),
            timeout=settings.timeout,
            retry=NO_RETRIES,
            user_agent_extra=f"msgrelay-hubspot/{__version__}",
            trust_env=trust_env,
            session=session,
        )

    def __repr__(self) -> str:
        return f"<HubSpotClient {self.settings.base_url} {self.settings.api_version}>"

    # --- paths -----------------------------------------------------------------------------------
    def objects(self, kind: str) -> str:
        """The path of an object type: ``/crm/v3/objects/contacts`` or ``/crm/objects/2026-03/contacts``."""
        version = self.settings.api_version
        return f"/crm/v3/objects/{kind}" if version == "v3" else f"/crm/objects/{version}/{kind}"

    def properties(self, kind: str) -> str:
        """The properties path of an object type (``/crm/v3/properties/contacts``...)."""
        version = self.settings.api_version
        return f"/crm/v3/properties/{kind}" if version == "v3" else f"/crm/properties/{version}/{kind}"

    # --- operations ------------------------------------------------------------------------------
    def upsert_contacts(self, inputs: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        """Create or update contacts by a unique property; one ``objectWriteTraceId`` per input.

        https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/upsert-contacts
        """
        return self._batch(f"{self.objects('contacts')}/batch/upsert", {"inputs": list(inputs)}, "upsert")

    def read_contacts(
        self, ids: Sequence[str], *, id_property: str, properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The contacts that exist, by id property value → their ``properties`` (missing ones left out).

        https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/read-contacts
        """
        body = {
            "idProperty": id_property,
            "inputs": [{"id": value} for value in ids],
            "properties": list(properties),
        }
        answer = self._post(f"{self.objects('contacts')}/batch/read", body)
        found: dict[str, dict[str, Any]] = {}
        for record in answer.get("results") or []:
            props = record.get("properties") or {}
            value = props.get(id_property)
            if value is not None:
                found[str(value).lower() if id_property == "email" else str(value)] = props
        return found

    def create_property(self, definition: Mapping[str, Any]) -> bool:
        """Create a contact property; False when it already exists (409).

        https://developers.hubspot.com/docs/api-reference/latest/crm/properties/create-property
        """
        try:
            self._post(self.properties("contacts"), definition)
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def find_note(self, token: str) -> str | None:
        """The id of a note whose body holds ``token``, or None.

        https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm
        """
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_note_body", "operator": "CONTAINS_TOKEN", "value": token}]}
            ],
            "properties": ["hs_note_body"],
            "limit": 1,
        }
        answer = self._post(f"{self.objects('notes')}/search", body, search=True)
        results = answer.get("results") or []
        return str(results[0].get("id")) if results else None

    def create_notes(self, inputs: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        """Create notes, each associated with its contact; one ``objectWriteTraceId`` per input.

        https://developers.hubspot.com/docs/api-reference/2026-03/crm/activities/notes/batch/create-notes
        """
        return self._batch(f"{self.objects('notes')}/batch/create", {"inputs": list(inputs)}, "note")

    def probe(self) -> None:
        """A cheap read that proves the token and the contacts read scope (one contact, no properties)."""
        self._send("GET", self.objects("contacts"), params={"limit": 1})

    def property_exists(self, name: str) -> bool:
        """Whether the contact property ``name`` exists."""
        try:
            self._send("GET", f"{self.properties('contacts')}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- plumbing --------------------------------------------------------------------------------
    def _batch(self, path: str, body: Mapping[str, Any], operation: str) -> BatchOutcome:
        answer = self._post(path, body)
        outcome = BatchOutcome()
        for record in answer.get("results") or []:
            trace = record.get("objectWriteTraceId")
            if trace is not None:
                outcome.results[str(trace)] = record
        for error in answer.get("errors") or []:
            context = error.get("context") or {}
            category = str(error.get("category") or "ERROR")
            message = " ".join(str(error.get("message") or "").split())[:300]
            for trace in context.get("objectWriteTraceId") or []:
                outcome.errors[str(trace)] = RecordError(message, category=category, operation=operation)
        return outcome

    def _post(self, path: str, body: Mapping[str, Any], *, search: bool = False) -> dict[str, Any]:
        response = self._send("POST", path, json=body, search=search)
        try:
            answer = self.transport.decode(response)
        finally:
            response.close()
        if not isinstance(answer, dict):
            raise ResponseDecodeError("expected a JSON object", method="POST", url=self.transport.url(path))
        return answer

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        search: bool = False,
    ) -> requests.Response:
        self.pacer.before(search=search)
        try:
            response = self.transport.request(method, path, json=json, params=params)
        except ApiError as exc:
            if exc.response is not None:
                self.pacer.after(exc.response.headers)
            raise refine(
                exc,
                token_setting=self.settings.name("token"),
                create_setting=self.settings.name("create_properties"),
            ) from None
        self.pacer.after(response.headers)
        return response

    def close(self) -> None:
        """Close pooled connections (of a session this client created)."""
        self.transport.close()
