"""A retrieve response decoded straight from JSON bytes into `Lead` objects: one msgspec pass, one
tight build loop.

A retrieve response can hold 100k leads, and the user reads every one, so this is the hot path of
`msgrelay.upscale.convert.decode_retrieve`. The wire shape of a lead is known once the response's
``message_sequence`` is: the identity keys, the optional joined fields, and one ``*_message`` key per
requested type. msgspec decodes and type-checks the whole body against Structs of exactly that shape
in C (no dicts), and a loop generated for that shape turns each lead Struct into a `Lead`, replacing
it in the list so the two never all live at once.

The sequence is inside the body, so a first decode (`RETRIEVE_RAW`) leaves ``leads_data`` as bytes,
and a second decodes them once the shape is known; a caller that expects the shape of the last
response (`shape`) decodes the whole body in one pass instead. Anything off the shape (an unknown key,
which belongs in ``extra``; a message key missing or of a type not requested; a wrong type) raises
`OffShapeError`, and the caller takes the general path, which builds every lead the same way and names the
first bad field by its wire path.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Generic, TypeVar

import msgspec

from msgrelay import _convert
from msgrelay.upscale import models
from msgrelay.upscale.models import Lead

__all__ = [
    "RETRIEVE_RAW",
    "CampaignWire",
    "LeadShape",
    "OffShapeError",
    "RetrieveWire",
    "message_fields",
    "shape",
]

L = TypeVar("L")


class OffShapeError(Exception):
    """The body is not of the expected shape: decode it the general way."""


class CampaignWire(msgspec.Struct, Generic[L], forbid_unknown_fields=True, gc=False):
    """``campaign`` with no keys beyond the documented ones; ``leads_data`` typed by the caller."""

    automation_tool_campaign_id: Any = msgspec.UNSET
    automation_tool_campaign_name: Any = msgspec.UNSET
    message_sequence: Any = msgspec.UNSET
    leads_data: L | msgspec.UnsetType = msgspec.UNSET


class RetrieveWire(msgspec.Struct, Generic[L], forbid_unknown_fields=True, gc=False):
    """A retrieve response with no keys beyond the documented ones; the small objects left untyped
    (cattrs structures them, keeping their unknown keys)."""

    metadata: Any
    account: Any = msgspec.UNSET
    campaign: CampaignWire[L] | msgspec.UnsetType = msgspec.UNSET


#: Decodes a body of any lead shape, leaving ``leads_data`` as its JSON bytes.
RETRIEVE_RAW = msgspec.json.Decoder(RetrieveWire[msgspec.Raw])


#: The keys of a lead besides its messages, with the type `structure_lead` requires of each.
_IDENTITY_TYPES: dict[str, Any] = {
    "external_prospect_id": str,
    "linkedin": str | None,
    "no_job_posts": bool | None,
    **dict.fromkeys(models.LEAD_INPUT_FIELDS, str | None),
}


def message_fields(kinds: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``(message type, lead key)`` of each type, in order, once each; a type whose key would read back
    as another type (or as no message at all) is left out, so a lead carrying it goes the general way.
    """
    out: dict[str, str] = {}
    for kind in kinds:
        field = models.message_field(kind)
        if kind and models.message_type_of_field(field) == kind and field not in _IDENTITY_TYPES:
            out.setdefault(kind, field)
    return tuple(out.items())


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        raise OffShapeError from None


class LeadShape:
    """The decoders of one lead shape (`message_fields` of a sequence) and the loop building its leads.

    Attributes:
        kinds: ``(message type, lead key)`` of each message a lead of this shape carries.
    """

    def __init__(self, kinds: tuple[tuple[str, str], ...]) -> None:
        self.kinds = kinds
        struct = _lead_struct(kinds)
        self._leads = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]
        self._body = msgspec.json.Decoder(RetrieveWire[list[struct]])  # type: ignore[valid-type]
        self._build = _lead_builder(struct, kinds)

    def decode_body(self, body: bytes | bytearray | memoryview | str) -> RetrieveWire[list[Any]]:
        """The whole body, its leads decoded as this shape (pass them to `build`); or `OffShapeError`."""
        wire: RetrieveWire[list[Any]] = _decode(self._body, body)
        return wire

    def decode_leads(self, raw: msgspec.Raw) -> list[Any]:
        """A ``leads_data`` array's bytes decoded as this shape (pass them to `build`); or `OffShapeError`."""
        wires: list[Any] = _decode(self._leads, raw)
        return wires

    def build(self, wires: list[Any]) -> tuple[Lead, ...]:
        """The leads of decoded lead Structs (the list is used up)."""
        # Each Struct is replaced by its Lead as the loop goes. The collector is off meanwhile: it
        # would walk the new leads (tracked objects, none in a cycle) again and again as they pile up.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(wires)
        finally:
            if enabled:
                gc.enable()
        return tuple(wires)


@lru_cache(maxsize=64)
def shape(kinds: tuple[tuple[str, str], ...]) -> LeadShape:
    """The `LeadShape` of ``kinds`` (from `message_fields`), made once."""
    return LeadShape(kinds)


def _lead_struct(kinds: tuple[tuple[str, str], ...]) -> type[msgspec.Struct]:
    """A Struct of a lead's wire keys: its identity and joined fields, and one message key per kind."""
    keys = [*_IDENTITY_TYPES, *(field for _, field in kinds)]
    # Attributes f0, f1...: wire keys are vendor data, not necessarily identifiers.
    rename = {f"f{index}": key for index, key in enumerate(keys)}
    specs: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, key in rename.items():
        if key == "external_prospect_id" or key not in _IDENTITY_TYPES:
            specs.append((name, _IDENTITY_TYPES.get(key, str | None)))  # required
        else:
            specs.append((name, _IDENTITY_TYPES[key], None))  # absent reads as None, as in structure_lead
    specs.sort(key=lambda spec: len(spec) == 3)  # msgspec wants required fields first
    return msgspec.defstruct(
        "LeadWire", specs, rename=rename, kw_only=True, forbid_unknown_fields=True, gc=False
    )


def _lead_builder(
    struct: type[msgspec.Struct], kinds: tuple[tuple[str, str], ...]
) -> Callable[[list[Any]], None]:
    """A loop replacing each lead Struct of a list by its `Lead`, generated for the Struct's fields."""
    attr = _attrs_by_key(struct)
    messages = ", ".join(f"kind{i}: w.{attr[field]}" for i, (_, field) in enumerate(kinds))
    # Lead has no validators or converters (`slot_setters` refuses a class that has), and msgspec
    # checked every type, so the leads are built without `Lead.__init__`: one C-level slot store per
    # attribute, the cheapest way to fill a frozen slotted object.
    setters = _convert.slot_setters(Lead)
    values = {
        "messages": "{" + messages + "}",
        "extra": "{}",
        **{key: f"w.{attr[key]}" for key in _IDENTITY_TYPES},
    }
    lines = [
        "def build(wires):",
        "    for index, w in enumerate(wires):",
        "        lead = new(Lead)",
        *(f"        set_{name}(lead, {values[name]})" for name in setters),
        "        wires[index] = lead",
    ]
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "Lead": Lead,
        **{f"set_{name}": setter for name, setter in setters.items()},
        **{f"kind{i}": kind for i, (kind, _) in enumerate(kinds)},
    }
    exec("\n".join(lines), namespace)  # generated from attribute names and indices only: no vendor text
    build: Callable[[list[Any]], None] = namespace["build"]
    return build


def _attrs_by_key(struct: type[msgspec.Struct]) -> dict[str, str]:
    """Wire key → Struct attribute."""
    return {field.encode_name: field.name for field in msgspec.structs.fields(struct)}
