"""An emulator of the HubSpot CRM endpoints this destination uses, as documented (a WSGI app).

Served on 127.0.0.1:0 with `msgrelay.web.BackgroundServer`, it answers under both path forms
(``/crm/v3/objects/...`` and ``/crm/objects/2026-03/...``):

- ``Authorization: Bearer <token>`` or 401 ``INVALID_AUTHENTICATION``;
- ``GET objects/contacts``, ``POST objects/contacts/batch/upsert`` (unique id property, at most 100
  inputs, no id twice, every property must exist: else 400 ``VALIDATION_ERROR``),
  ``POST objects/contacts/batch/read`` (207 with ``OBJECT_NOT_FOUND`` for the missing),
  ``POST objects/notes/batch/create`` (``hs_timestamp`` required, 65,536 characters at most, associated
  with a contact by type 202), ``POST objects/notes/search`` (``CONTAINS_TOKEN``),
  ``POST properties/contacts`` (409 when it exists), ``GET properties/contacts/{name}``;
- the burst limit over a rolling window, with ``X-HubSpot-RateLimit-*`` headers (none on search), and
  429 ``TEN_SECONDLY_ROLLING`` past it.

Faults for tests: ``emulator.script("upsert", Fault(500))`` answers the next upsert with a 500;
``Fault(429, retry_after=1)``, ``Fault(207, failed=(3, 7))`` (those inputs fail, the rest apply),
``Fault(401)``... Every property write is kept in a history, so a test can prove each was set once.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from msgrelay.web import BackgroundServer
from msgrelay_hubspot.replies import (
    Answer,
    Contact,
    Fault,
    batch_answer,
    error,
    matches,
    rate_limited,
    record_error,
)

__all__ = ["EMULATOR_TOKEN", "Fault", "HubSpotEmulator", "RunningEmulator", "serve"]

#: The token the emulator accepts unless told another (shaped like a private-app token).
EMULATOR_TOKEN = "pat-na1-00000000-emulator-token-0000"
_MAX_TEXT = 65_536
_BATCH_CAP = 100
_DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "company", "hs_linkedin_url", "phone")
_OBJECTS = re.compile(r"^/crm/(?:v3/objects|objects/\d{4}-\d{2})/(contacts|notes)(/batch/\w+|/search)?$")
_PROPERTIES = re.compile(r"^/crm/(?:v3/properties|properties/\d{4}-\d{2})/contacts(?:/([A-Za-z0-9_]+))?$")


class HubSpotEmulator:
    """The emulated portal. Thread-safe: waitress answers from several threads.

    Args:
        token: the private-app token it accepts.
        rate_max: requests allowed per rolling interval (a Free/Starter private app has 100 per 10 s).
        interval: the rolling interval, seconds.
        clock: monotonic seconds (tests inject one to step through the interval).
    """

    def __init__(
        self,
        *,
        token: str = EMULATOR_TOKEN,
        rate_max: int = 100,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.rate_max = rate_max
        self.interval = interval
        self.clock = clock
        self.properties: dict[str, dict[str, Any]] = {
            name: {"name": name, "type": "string", "hasUniqueValue": name == "email"}
            for name in _DEFAULT_PROPERTIES
        }
        self.contacts: dict[str, Contact] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        #: Every request: ``(method, path, parsed JSON body or None)``.
        self.requests: list[tuple[str, str, Any]] = []
        self._faults: dict[str, list[Fault]] = {}
        self._window: list[float] = []
        self._ids = itertools.count(51001)
        self._lock = threading.Lock()

    def script(self, operation: str, *faults: Fault | int) -> None:
        """Answer the next requests of ``operation`` (``upsert``, ``read``, ``notes``, ``search``,
        ``property``, ``list``) with these faults, in order, before normal handling resumes."""
        with self._lock:
            self._faults.setdefault(operation, []).extend(
                f if isinstance(f, Fault) else Fault(f) for f in faults
            )

    def calls(self, operation_path: str) -> list[Any]:
        """The bodies of every POST whose path ends with ``operation_path`` (``/batch/upsert``)."""
        with self._lock:
            return [
                body
                for method, path, body in self.requests
                if method == "POST" and path.endswith(operation_path)
            ]

    def received(self) -> list[dict[str, Any]]:
        """The contacts as HubSpot holds them, each with the bodies of its notes (JSON-ready)."""
        with self._lock:
            return [
                {
                    "id": c.id,
                    "properties": dict(c.properties),
                    "notes": [
                        n["properties"]["hs_note_body"] for n in self.notes.values() if c.id in n["contacts"]
                    ],
                }
                for c in self.contacts.values()
            ]

    # --- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append((method, path, body))
            answer = self._answer(method, path, str(environ.get("HTTP_AUTHORIZATION", "")), body)
        payload = json.dumps(answer.body).encode()
        phrase = HTTPStatus(answer.status).phrase
        headers = [("Content-Type", "application/json;charset=utf-8"), *answer.headers.items()]
        start_response(f"{answer.status} {phrase}", headers)
        return [payload]

    def _answer(self, method: str, path: str, authorization: str, body: Any) -> Answer:
        objects, props = _OBJECTS.match(path), _PROPERTIES.match(path)
        if objects is None and props is None:
            return error(404, "OBJECT_NOT_FOUND", f"no route for {method} {path}")
        operation = _operation(method, objects, props)
        search = operation == "search"
        if authorization != f"Bearer {self.token}":
            return error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        headers = {} if search else self._rate_headers()
        if not search and headers["X-HubSpot-RateLimit-Remaining"] == "-1":
            answer = rate_limited("TEN_SECONDLY_ROLLING", None)
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
            answer.headers.update(headers)
            return answer
        fault = self._next_fault(operation)
        if fault is not None and fault.status != 207:
            answer = (
                rate_limited(fault.policy, fault.retry_after)
                if fault.status == 429
                else error(fault.status, "ERROR", f"emulated {fault.status}")
            )
        else:
            failed = fault.failed if fault is not None else ()
            category = fault.category if fault is not None else ""
            answer = self._handle(operation, props.group(1) if props else None, body, failed, category)
        answer.headers.update(headers)
        return answer

    def _rate_headers(self) -> dict[str, str]:
        now = self.clock()
        self._window = [t for t in self._window if t > now - self.interval]
        self._window.append(now)
        remaining = self.rate_max - len(self._window)
        return {
            "X-HubSpot-RateLimit-Max": str(self.rate_max),
            "X-HubSpot-RateLimit-Remaining": str(max(remaining, -1)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.interval * 1000)),
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "249000",
        }

    def _next_fault(self, operation: str) -> Fault | None:
        queue = self._faults.get(operation)
        return queue.pop(0) if queue else None

    def _handle(
        self, operation: str, name: str | None, body: Any, failed: tuple[int, ...], category: str
    ) -> Answer:
        if operation == "list":
            first = list(self.contacts.values())[:1]
            return Answer(200, {"results": [{"id": c.id, "properties": {}} for c in first]})
        if operation == "property":
            return self._property(name, body)
        if not isinstance(body, dict) or not isinstance(body.get("inputs", []), list):
            return error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object with inputs")
        if operation == "upsert":
            return self._upsert(body["inputs"], failed, category)
        if operation == "read":
            return self._read(body)
        if operation == "notes":
            return self._create_notes(body["inputs"], failed, category)
        if operation == "search":
            return self._search(body)
        return error(405, "ERROR", "method not allowed")

    # --- operations ------------------------------------------------------------------------------
    def _property(self, name: str | None, body: Any) -> Answer:
        if name is not None:
            if name not in self.properties:
                return error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
            return Answer(200, self.properties[name])
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return error(400, "VALIDATION_ERROR", "a property needs a name")
        if body["name"] in self.properties:
            return error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{body['name']}' already exists.")
        self.properties[body["name"]] = dict(body)
        return Answer(201, dict(body))

    def _find(self, prop: str, value: str) -> Contact | None:
        fold = prop == "email"
        for contact in self.contacts.values():
            have = contact.properties.get(prop)
            if have is not None and (have.lower() == value.lower() if fold else have == value):
                return contact
        return None

    def _upsert(self, inputs: list[Any], failed: tuple[int, ...], category: str) -> Answer:
        if len(inputs) > _BATCH_CAP:
            return error(400, "VALIDATION_ERROR", f"at most {_BATCH_CAP} inputs per batch")
        ids = [str(i.get("id", "")).lower() for i in inputs]
        if len(set(ids)) != len(ids):
            return error(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        missing = sorted(
            {p for i in inputs for p in (i.get("properties") or {}) if p not in self.properties}
            | {str(i.get("idProperty")) for i in inputs if i.get("idProperty") not in self.properties}
        )
        if missing:
            return error(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid",
                errors=[
                    {
                        "message": f'Property "{p}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [p]},
                    }
                    for p in missing
                ],
            )
        for i in inputs:
            if not self.properties[str(i["idProperty"])].get("hasUniqueValue"):
                return error(400, "VALIDATION_ERROR", f"{i['idProperty']} is not a unique property")
        results, errors = [], []
        for position, item in enumerate(inputs):
            trace = item.get("objectWriteTraceId")
            if position in failed:
                errors.append(record_error(category, "emulated record failure", trace))
                continue
            prop, value = str(item["idProperty"]), str(item["id"])
            contact = self._find(prop, value)
            new = contact is None
            if contact is None:
                contact_id = str(next(self._ids))
                contact = self.contacts[contact_id] = Contact(contact_id)
                contact.set(prop, value)
            for key, text in (item.get("properties") or {}).items():
                contact.set(key, str(text))
            results.append(
                {
                    "id": contact.id,
                    "new": new,
                    "properties": dict(contact.properties),
                    "objectWriteTraceId": trace,
                    "archived": False,
                }
            )
        return batch_answer(results, errors)

    def _read(self, body: dict[str, Any]) -> Answer:
        prop = str(body.get("idProperty") or "hs_object_id")
        wanted = [str(p) for p in body.get("properties") or []]
        results, missing = [], []
        for item in body.get("inputs", []):
            value = str(item.get("id", ""))
            contact = self.contacts.get(value) if prop == "hs_object_id" else self._find(prop, value)
            if contact is None:
                missing.append(value)
                continue
            shown = {k: contact.properties.get(k) for k in {*wanted, prop}}
            results.append({"id": contact.id, "properties": shown, "archived": False})
        errors = (
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not exist",
                    "context": {"ids": missing},
                }
            ]
            if missing
            else []
        )
        return batch_answer(results, errors)

    def _create_notes(self, inputs: list[Any], failed: tuple[int, ...], category: str) -> Answer:
        results, errors = [], []
        for position, item in enumerate(inputs):
            trace = item.get("objectWriteTraceId")
            props = item.get("properties") or {}
            targets = [str(a.get("to", {}).get("id")) for a in item.get("associations") or []]
            kinds = [
                t.get("associationTypeId")
                for a in item.get("associations") or []
                for t in a.get("types") or []
            ]
            if position in failed:
                errors.append(record_error(category, "emulated record failure", trace))
            elif "hs_timestamp" not in props:
                errors.append(record_error("VALIDATION_ERROR", "hs_timestamp is required", trace))
            elif len(str(props.get("hs_note_body", ""))) > _MAX_TEXT:
                errors.append(
                    record_error("VALIDATION_ERROR", f"hs_note_body is over {_MAX_TEXT} characters", trace)
                )
            elif any(t not in self.contacts for t in targets) or any(k != 202 for k in kinds):
                errors.append(record_error("VALIDATION_ERROR", "invalid association to a contact", trace))
            else:
                note_id = str(next(self._ids))
                self.notes[note_id] = {"id": note_id, "properties": dict(props), "contacts": targets}
                results.append({"id": note_id, "properties": dict(props), "objectWriteTraceId": trace})
        return batch_answer(results, errors, created=True)

    def _search(self, body: dict[str, Any]) -> Answer:
        found = []
        for group in body.get("filterGroups") or []:
            for note in self.notes.values():
                if (
                    all(matches(note["properties"], f) for f in group.get("filters") or [])
                    and note not in found
                ):
                    found.append(note)
        limit = int(body.get("limit") or 10)
        results = [{"id": n["id"], "properties": dict(n["properties"])} for n in found[:limit]]
        return Answer(200, {"total": len(found), "results": results})


def _operation(method: str, objects: re.Match[str] | None, props: re.Match[str] | None) -> str:
    if props is not None:
        return "property"
    assert objects is not None
    kind, action = objects.group(1), objects.group(2) or ""
    if method == "GET":
        return "list"
    if action == "/search":
        return "search"
    if kind == "notes":
        return "notes"
    return {"/batch/upsert": "upsert", "/batch/read": "read"}.get(action, "unknown")


@dataclass
class RunningEmulator:
    """An emulator being served: the `msgrelay.destinations.DemoEmulator` the demo receives."""

    emulator: HubSpotEmulator
    url: str

    @property
    def settings(self) -> dict[str, str]:
        """``MSGRELAY_HUBSPOT_*`` pointing at the emulator. Demo leads carry no email, so contacts are
        keyed by msgrelay's own unique property, created on first use, and each gets a note."""
        return {
            "MSGRELAY_HUBSPOT_BASE_URL": self.url,
            "MSGRELAY_HUBSPOT_TOKEN": self.emulator.token,
            "MSGRELAY_HUBSPOT_ID_PROPERTY": "msgrelay_external_prospect_id",
            "MSGRELAY_HUBSPOT_CREATE_PROPERTIES": "1",
            "MSGRELAY_HUBSPOT_NOTES": "1",
        }

    def received(self) -> list[dict[str, Any]]:
        """The contacts the emulator holds, with their notes."""
        return self.emulator.received()


@contextmanager
def serve(emulator: HubSpotEmulator | None = None) -> Iterator[RunningEmulator]:
    """Serve ``emulator`` (a new one by default) on 127.0.0.1, on a free port, until the block ends."""
    emulator = emulator or HubSpotEmulator()
    with BackgroundServer(emulator) as server:
        yield RunningEmulator(emulator, server.url)
