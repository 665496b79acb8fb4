"""The HubSpot destination: each lead upserted as a contact, its texts as contact properties.

`HubSpotDestination.deliver_many` is what the relay calls, with the failures reported per delivery key:

1. each delivery is checked (`contacts.prepare`): no value for the id property, or a text over
   HubSpot's limit, fails that delivery for good, before anything is sent;
2. with ``create_properties``, the missing message properties are created, once per process;
3. per batch of at most 100 (no id twice in one batch): the contacts are read by the id property, so
   first name, company and LinkedIn URL are written only where HubSpot has none, then upserted. The
   upsert is keyed by a unique property, so a retry writes the same values again and creates nothing;
   a 207 fails only its failed records, and only those are retried;
4. with ``notes``, one note per lead, associated with its contact, carrying the delivery key as a
   marker. HubSpot has no idempotency key, so a retried delivery (``attempt`` > 1: an earlier attempt
   may have created it) searches for the marker first and creates nothing when it is found.

After a failure that concerns the account or the endpoint (a bad token, a rate limit, HubSpot down),
the remaining batches are not sent and fail with the same error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from msgrelay import Delivery
from msgrelay.destinations import RegisterDestination
from msgrelay.errors import MsgrelayError
from msgrelay_hubspot.client import BATCH_CAP, NOTE_TO_CONTACT, HubSpotClient, Pacer
from msgrelay_hubspot.config import HubSpotSettings
from msgrelay_hubspot.contacts import FILL_PROPERTIES, ContactWrite, marker, prepare
from msgrelay_hubspot.errors import PLUGIN, RecordError, ends_batch

__all__ = ["DEFAULT_NAME", "HubSpotDestination"]

logger = logging.getLogger("msgrelay.hubspot")

#: The destination type, and the name the environment-configured instance is registered under.
DEFAULT_NAME = "hubspot"


class HubSpotDestination:
    """Writes each delivery to a HubSpot contact (and, optionally, a note).

    Args:
        settings: token, base URL, version, id property... (`HubSpotSettings.from_env` / `from_mapping`).
        pacer: the rate pacing (tests inject a clock and a sleep).
        clock: seconds since the epoch, for a note's ``hs_timestamp``.
        trust_env: whether `requests` reads proxy settings from the environment.
    """

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        pacer: Pacer | None = None,
        clock: Any = time.time,
        trust_env: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.client = HubSpotClient(settings, pacer=pacer, trust_env=trust_env)
        #: Message properties known to exist (created or found), so each is created at most once.
        self._known_properties: set[str] = set()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> HubSpotDestination:
        """A destination configured from ``MSGRELAY_HUBSPOT_*`` (see `HubSpotSettings.from_env`)."""
        return cls(HubSpotSettings.from_env(environ), **kwargs)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, object], *, where: str, **kwargs: Any) -> HubSpotDestination:
        """A destination of a route instance's settings (see `HubSpotSettings.from_mapping`)."""
        return cls(HubSpotSettings.from_mapping(settings, where=where), **kwargs)

    def __repr__(self) -> str:
        return f"<HubSpotDestination {self.settings.base_url} {self.settings.api_version}>"

    # --- the destination protocol ----------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Write one delivery; return on success, raise a msgrelay error otherwise (the relay retries)."""
        failure = self.deliver_many([delivery]).get(delivery.key)
        if failure is not None:
            raise failure

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """Write every delivery, batched; the failures by delivery key (see the module docstring)."""
        failures: dict[str, BaseException] = {}
        writes: list[ContactWrite] = []
        s = self.settings
        for delivery in deliveries:
            try:
                writes.append(
                    prepare(
                        delivery,
                        id_property=s.id_property,
                        id_setting=s.name("id_property"),
                        prefix=s.property_prefix,
                        notes=s.notes,
                    )
                )
            except MsgrelayError as exc:
                failures[delivery.key] = exc
        if not writes:
            return failures
        try:
            if s.create_properties:
                self._ensure_properties(writes)
        except Exception as exc:  # the whole batch waits for the properties
            failures.update({w.key: exc for w in writes})
            return failures
        stop: BaseException | None = None
        for batch in _batches(writes, s.id_property):
            if stop is not None:
                failures.update({w.key: stop for w in batch})
                continue
            try:
                failures.update(self._write_batch(batch))
            except Exception as exc:  # any failure of the call fails its batch, to be retried
                failures.update({w.key: exc for w in batch})
                if ends_batch(exc):
                    stop = exc
        return failures

    def register_as(self, register: RegisterDestination, name: str = DEFAULT_NAME) -> None:
        """Register this destination under ``name`` (from a ``register_destinations`` hook)."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    # --- settings check --------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Problems with the settings and the token, one line each naming the setting; [] when fine.

        Reads cheaply: one contact (the token and its read scope), then the id property.
        """
        s = self.settings
        try:
            self.client.probe()
        except MsgrelayError as exc:
            return [f"{PLUGIN}: {exc}"]
        problems: list[str] = []
        own_id = s.id_property == s.property_prefix + "external_prospect_id" and s.create_properties
        try:
            if not own_id and not self.client.property_exists(s.id_property):
                problems.append(
                    f"{PLUGIN}: HubSpot has no contact property {s.id_property!r}; "
                    f"set {s.name('id_property')} to a unique contact property"
                )
        except MsgrelayError as exc:
            problems.append(f"{PLUGIN}: {exc}")
        return problems

    # --- the steps -------------------------------------------------------------------------------
    def _ensure_properties(self, writes: Sequence[ContactWrite]) -> None:
        s = self.settings
        wanted = {name for w in writes for name in w.messages}
        if s.id_property == s.property_prefix + "external_prospect_id":
            wanted.add(s.id_property)
        for name in sorted(wanted - self._known_properties):
            created = self.client.create_property(_definition(name, unique=name == s.id_property))
            logger.info("HubSpot contact property %s %s", name, "created" if created else "exists")
            self._known_properties.add(name)

    def _write_batch(self, batch: Sequence[ContactWrite]) -> dict[str, BaseException]:
        s = self.settings
        existing: dict[str, dict[str, Any]] = {}
        if any(w.fill for w in batch):
            existing = self.client.read_contacts(
                [w.id_value for w in batch], id_property=s.id_property, properties=list(FILL_PROPERTIES)
            )
        inputs = [
            {
                "idProperty": s.id_property,
                "id": w.id_value,
                "objectWriteTraceId": w.key,
                "properties": w.properties(existing.get(_normal(s.id_property, w.id_value), {})),
            }
            for w in batch
        ]
        outcome = self.client.upsert_contacts(inputs)
        failures: dict[str, BaseException] = {}
        contacts: dict[str, str] = {}
        for w in batch:
            record = outcome.results.get(w.key)
            if w.key in outcome.errors:
                failures[w.key] = outcome.errors[w.key]
            elif record is None or record.get("id") is None:
                # Not reported either way: the upsert is idempotent, so asking again is safe.
                failures[w.key] = RecordError(
                    "HubSpot did not report this record", category="UNREPORTED", operation="upsert"
                )
            else:
                contacts[w.key] = str(record["id"])
        if s.notes:
            noted = [w for w in batch if w.key in contacts and w.note is not None]
            failures.update(self._write_notes(noted, contacts))
        return failures

    def _write_notes(
        self, writes: Sequence[ContactWrite], contacts: Mapping[str, str]
    ) -> dict[str, BaseException]:
        to_create = []
        for w in writes:
            # A first attempt cannot have created a note; a later one may have, then failed to settle.
            if w.delivery.attempt > 1 and self.client.find_note(marker(w.key)) is not None:
                logger.debug("note of %s already in HubSpot", w.key)
                continue
            to_create.append(w)
        if not to_create:
            return {}
        stamp = str(int(self.clock() * 1000))
        outcome = self.client.create_notes(
            [
                {
                    "objectWriteTraceId": w.key,
                    "properties": {"hs_timestamp": stamp, "hs_note_body": w.note},
                    "associations": [
                        {
                            "to": {"id": contacts[w.key]},
                            "types": [
                                {
                                    "associationCategory": "HUBSPOT_DEFINED",
                                    "associationTypeId": NOTE_TO_CONTACT,
                                }
                            ],
                        }
                    ],
                }
                for w in to_create
            ]
        )
        failures: dict[str, BaseException] = {}
        for w in to_create:
            if w.key in outcome.errors:
                failures[w.key] = outcome.errors[w.key]
            elif w.key not in outcome.results:
                # Perhaps created, perhaps not: the retry searches for the marker before creating.
                failures[w.key] = RecordError(
                    "HubSpot did not report this note", category="UNREPORTED", operation="note"
                )
        return failures

    # --- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()

    def __enter__(self) -> HubSpotDestination:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _normal(id_property: str, value: str) -> str:
    """HubSpot matches emails without regard to case."""
    return value.lower() if id_property == "email" else value


def _batches(writes: Sequence[ContactWrite], id_property: str) -> Iterator[list[ContactWrite]]:
    """Batches of at most `BATCH_CAP` with no id twice (HubSpot refuses a batch with a duplicate id);
    a later write to the same contact goes in a later batch, so both apply in order."""
    pending = list(writes)
    while pending:
        batch: list[ContactWrite] = []
        seen: set[str] = set()
        rest: list[ContactWrite] = []
        for w in pending:
            key = _normal(id_property, w.id_value)
            if len(batch) < BATCH_CAP and key not in seen:
                batch.append(w)
                seen.add(key)
            else:
                rest.append(w)
        yield batch
        pending = rest


def _definition(name: str, *, unique: bool) -> dict[str, Any]:
    label = name.replace("_", " ").strip().capitalize()
    definition: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "string",
        "fieldType": "text" if unique else "textarea",
        "groupName": "contactinformation",
        "description": "Written by msgrelay",
    }
    if unique:
        definition["hasUniqueValue"] = True
    return definition
