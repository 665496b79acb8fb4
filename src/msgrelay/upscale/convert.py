"""The cattrs converter for Upscale Outreach payloads.

Fixed-shape classes get cattrs-generated hooks (`register_open_class`). A lead's shape is open (one
``*_message`` key per requested type, plus whatever the vendor adds), and a retrieve response can hold
tens of thousands of them, so `Lead` gets one direct hook that reads each key once: identity keys,
message keys into ``messages``, ``no_job_posts``, the rest into ``extra``.

`decode_retrieve` is the hot path (``bench/`` measures it). From bytes of the documented shape it
takes the typed path: msgspec decodes the envelope with ``leads_data`` left as bytes, cattrs structures
the small objects, and `typed_leads` decodes and builds every `Lead` in one pass. A body off that
shape (unknown keys, a wrong type, not JSON) takes the general path: parsed, then structured, every
lead through `structure_lead`, so an error names its wire path.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

import attrs
import cattrs
import msgspec
import orjson
from cattrs.errors import AttributeValidationNote, ClassValidationError, IterableValidationNote
from cattrs.preconf.orjson import OrjsonConverter

from msgrelay import _convert
from msgrelay.errors import Problem, ValidationError
from msgrelay.upscale import models, typed_leads
from msgrelay.upscale.models import (
    Account,
    Campaign,
    CompletionEvent,
    Credits,
    GenerationRequest,
    GenerationTicket,
    Lead,
    LeadInput,
    LeadSequence,
    MessageStep,
    Metadata,
    RetrieveResult,
    SequenceStep,
    SequenceTemplate,
)

__all__ = [
    "LEAD_FIELD",
    "LEAD_KEY_KINDS",
    "NOT_A_MESSAGE",
    "configure_converter",
    "converter",
    "decode_retrieve",
    "dumps",
    "lead_key_kind",
    "make_converter",
    "structure",
    "structure_completion_event",
    "structure_lead",
    "unstructure",
    "unstructure_lead",
    "unstructure_leads",
]

T = TypeVar("T")

_MESSAGE_TYPE = {"message_type": "messageType"}
_LEAD_IDENTITY = ("external_prospect_id", "linkedin", "no_job_posts", *models.LEAD_INPUT_FIELDS)


#: What `lead_key_kind` says of a lead key that is one of the lead's own fields, and of one that is
#: neither such a field nor a message (it goes to ``extra``); any other key's kind is its message type.
LEAD_FIELD = "\0identity"
NOT_A_MESSAGE = "\0other"
#: Lead key → message type (or a marker); filled as keys are first seen, since a response repeats
#: the same handful of keys on every lead. Hot loops read it first and call `lead_key_kind` on a miss.
LEAD_KEY_KINDS: dict[str, str] = {}
_KIND_OF_KEY_MAX = 4096


def _classify(key: str) -> str:
    if key in _LEAD_IDENTITY:
        return LEAD_FIELD
    return models.message_type_of_field(key) or NOT_A_MESSAGE


def _lead_error(field: str, expected: str, value: Any) -> ClassValidationError:
    exc = TypeError(f"expected {expected}, got {type(value).__name__} {value!r:.60}")
    exc.__notes__ = [AttributeValidationNote(f"Structuring class Lead @ attribute {field}", field, str)]
    return ClassValidationError("While structuring Lead", [exc], Lead)


def structure_lead(data: Any, _: Any = None) -> Lead:
    """A `Lead` from its wire object, reading every key once."""
    if type(data) is not dict:
        raise TypeError(f"expected an object, got {type(data).__name__}")
    messages: dict[str, str | None] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        kind = LEAD_KEY_KINDS.get(key) or lead_key_kind(key)
        if kind is LEAD_FIELD:
            continue
        if kind is NOT_A_MESSAGE:
            extra[key] = value
        elif value is None or type(value) is str:
            messages[kind] = value
        else:
            raise _lead_error(key, "a string or null", value)
    prospect = data.get("external_prospect_id")
    if type(prospect) is not str:
        raise _lead_error("external_prospect_id", "a string", prospect)
    linkedin = data.get("linkedin")
    if linkedin is not None and type(linkedin) is not str:
        raise _lead_error("linkedin", "a string or null", linkedin)
    no_job_posts = data.get("no_job_posts")
    if no_job_posts is not None and type(no_job_posts) is not bool:
        raise _lead_error("no_job_posts", "a boolean or null", no_job_posts)
    named: dict[str, str] = {}
    for name in models.LEAD_INPUT_FIELDS:  # absent from the vendor's leads; present once joined
        value = data.get(name)
        if value is not None:
            if type(value) is not str:
                raise _lead_error(name, "a string or null", value)
            named[name] = value
    return Lead(
        external_prospect_id=prospect,
        linkedin=linkedin,
        messages=messages,
        no_job_posts=no_job_posts,
        extra=extra,
        **named,
    )


def unstructure_lead(lead: Lead) -> dict[str, Any]:
    """The wire object of a `Lead` (message types back to their ``*_message`` keys)."""
    out: dict[str, Any] = {"external_prospect_id": lead.external_prospect_id, "linkedin": lead.linkedin}
    for name in models.LEAD_INPUT_FIELDS:
        value = getattr(lead, name)
        if value is not None:
            out[name] = value
    fields = _FIELD_OF_KIND
    for kind, text in lead.messages.items():
        out[fields.get(kind) or _field_of(kind)] = text
    if lead.no_job_posts is not None:
        out["no_job_posts"] = lead.no_job_posts
    if lead.extra:
        out.update(lead.extra)
    return out


#: Message type → lead key, filled as types are first seen (`models.message_field` is the rule).
_FIELD_OF_KIND: dict[str, str] = {}


def _field_of(kind: str) -> str:
    field = models.message_field(kind)
    if len(_FIELD_OF_KIND) < _KIND_OF_KEY_MAX:
        _FIELD_OF_KIND[kind] = field
    return field


def unstructure_leads(leads: Sequence[Lead]) -> list[dict[str, Any]]:
    """The wire objects of a sequence of leads; a `LeadSequence`'s unread leads are not built."""
    if not isinstance(leads, LeadSequence):
        return list(map(unstructure_lead, leads))
    return [
        unstructure_lead(item) if type(item) is not dict else _wire_of(item)  # type: ignore[arg-type]
        for item in leads.wire_items()
    ]


def _wire_of(wire: dict[str, Any]) -> dict[str, Any]:
    # What `unstructure_lead(structure_lead(wire))` gives, without building the Lead: a copy of the
    # wire object itself when that is already its form (the usual case), as a cached look at its
    # key layout decides.
    layout = tuple(wire)
    form = _LAYOUT_FORM.get(layout) or _layout_form(layout, wire)
    if form is _CANONICAL or (form is _CANONICAL_UNLESS_NULL_NOTICE and wire["no_job_posts"] is not None):
        return wire.copy()
    return unstructure_lead(structure_lead(wire))


_CANONICAL = "canonical"
_CANONICAL_UNLESS_NULL_NOTICE = "canonical unless no_job_posts is null"  # encoding omits a null notice
_REWRITTEN = "rewritten"
#: Key layout of a (checked) wire lead → whether encoding its `Lead` gives back the same keys in order.
_LAYOUT_FORM: dict[tuple[str, ...], str] = {}
_LAYOUT_FORM_MAX = 256


def _layout_form(layout: tuple[str, ...], wire: dict[str, Any]) -> str:
    probe = {**wire, "no_job_posts": True} if "no_job_posts" in wire else wire
    form = _REWRITTEN
    if tuple(unstructure_lead(structure_lead(probe))) == layout:
        form = _CANONICAL_UNLESS_NULL_NOTICE if "no_job_posts" in wire else _CANONICAL
    if len(_LAYOUT_FORM) < _LAYOUT_FORM_MAX:
        _LAYOUT_FORM[layout] = form
    return form


def configure_converter(conv: cattrs.Converter) -> None:
    """Register the hooks of every Upscale payload on ``conv``."""
    conv.register_structure_hook(Lead, structure_lead)
    conv.register_unstructure_hook(Lead, unstructure_lead)
    conv.register_structure_hook_func(_convert.is_exactly(tuple[Lead, ...]), _structure_leads)
    conv.register_structure_hook_func(_convert.is_exactly(Sequence[Lead]), _structure_leads)
    conv.register_unstructure_hook_func(_convert.is_exactly(Sequence[Lead]), unstructure_leads)
    _convert.register_open_class(conv, MessageStep, renames=_MESSAGE_TYPE)
    _convert.register_open_class(
        conv,
        LeadInput,
        omit_none=frozenset({"lead_specified_url", "lead_company_website_url"}),
    )
    _convert.register_open_class(
        conv,
        GenerationRequest,
        omit_none=frozenset({"material_link", "hiring_location", "signoff_name"}),
    )
    _convert.register_open_class(conv, GenerationTicket)
    _convert.register_open_class(
        conv,
        Metadata,
        aliases={
            "requested_messages_count": "requested_message_count",
            "generated_messages_count": "generated_message_count",
            "failed_message_count": "failed_messages_count",
        },
    )
    _convert.register_open_class(conv, Account)
    _convert.register_open_class(conv, Campaign)
    _convert.register_open_class(conv, RetrieveResult, local=frozenset({"http_status"}))
    _convert.register_open_class(conv, Credits)
    _convert.register_open_class(conv, SequenceStep, renames=_MESSAGE_TYPE)
    _convert.register_open_class(conv, SequenceTemplate)
    _convert.register_open_class(
        conv,
        CompletionEvent,
        aliases={
            "requested_message_count": "requested_messages_count",
            "generated_message_count": "generated_messages_count",
        },
    )


def lead_key_kind(key: str) -> str:
    """How a lead's wire key folds into a `Lead`: `LEAD_FIELD`, `NOT_A_MESSAGE`, or its message type."""
    kind = LEAD_KEY_KINDS.get(key)
    if kind is None:
        kind = _classify(key)
        if len(LEAD_KEY_KINDS) < _KIND_OF_KEY_MAX:
            LEAD_KEY_KINDS[key] = kind
    return kind


def _structure_leads(data: Any, _: Any) -> tuple[Lead, ...]:
    if type(data) is not list:
        raise TypeError(f"expected a list, got {type(data).__name__}")
    try:
        return tuple(map(structure_lead, data))
    except (ClassValidationError, TypeError):
        # Only on failure: find which lead, so the error names leads_data[i].
        for index, item in enumerate(data):
            try:
                structure_lead(item)
            except (ClassValidationError, TypeError) as exc:
                exc.__notes__ = [*getattr(exc, "__notes__", []), _index_note(index)]
                raise cattrs.IterableValidationError(
                    "While structuring leads_data", [exc], tuple[Lead, ...]
                ) from None
        raise


def _index_note(index: int) -> Any:
    return IterableValidationNote(f"Structuring leads_data @ index {index}", index, Lead)


def make_converter() -> OrjsonConverter:
    """A new converter configured for Upscale payloads (prefer your own over a global one)."""
    conv = _convert.make_converter()
    configure_converter(conv)
    return conv


@cache
def converter() -> OrjsonConverter:
    """The converter the client uses, built once."""
    return make_converter()


def structure(data: Any, cls: type[T], *, root: str = "") -> T:
    """``data`` as ``cls``; a `ValidationError` naming the wire path of the first bad field."""

    def fail(path: str, message: str) -> Exception:
        where = f"{root}.{path}" if root and path else (root or path)
        return ValidationError(Problem(where, message), subject=cls.__name__)

    return _convert.structure_with_path(converter(), data, cls, fail)


def unstructure(obj: Any) -> Any:
    """The wire form (JSON-ready dicts and lists) of any Upscale model."""
    return converter().unstructure(obj)


def dumps(obj: Any) -> bytes:
    """The JSON bytes of any Upscale model."""
    return orjson.dumps(converter().unstructure(obj))


_JSON = msgspec.json.Decoder()


_CAMPAIGN_FIELDS = ("automation_tool_campaign_id", "automation_tool_campaign_name", "message_sequence")
#: The lead shape of the last response decoded on the typed path: the next one, most likely from the
#: same campaign, is decoded in one pass as that shape (a guess checked against its own sequence).
_last_shape: typed_leads.LeadShape | None = None


def _decode_typed(body: bytes | bytearray | memoryview | str, http_status: int) -> RetrieveResult | None:
    """The response decoded on the typed path (`typed_leads`), or None when it is off the documented
    shape in any way (unknown keys, a wrong type, not JSON): the general path then decodes it, or
    names what is wrong.
    """
    global _last_shape  # a guess only: any value, or none, gives the same result
    guess = _last_shape
    try:
        if guess is not None:
            try:
                wire: Any = guess.decode_body(body)
                found = _typed_result(wire, guess, http_status)
                if found is not None:
                    return found
            except typed_leads.OffShapeError:
                pass
        wire = typed_leads.RETRIEVE_RAW.decode(body)
        shape = _shape_of(wire)
        if (
            isinstance(wire.campaign, typed_leads.CampaignWire)
            and wire.campaign.leads_data is not msgspec.UNSET
        ):
            wire.campaign.leads_data = shape.decode_leads(wire.campaign.leads_data)
        found = _typed_result(wire, shape, http_status)
    except (
        msgspec.DecodeError,
        msgspec.ValidationError,
        RecursionError,
        ValidationError,
        typed_leads.OffShapeError,
    ):
        return None
    _last_shape = shape
    return found


def _shape_of(wire: typed_leads.RetrieveWire[Any]) -> typed_leads.LeadShape:
    """The lead shape a response's own ``message_sequence`` calls for."""
    steps: Any = ()
    if (
        isinstance(wire.campaign, typed_leads.CampaignWire)
        and wire.campaign.message_sequence is not msgspec.UNSET
    ):
        steps = structure(
            wire.campaign.message_sequence, tuple[MessageStep, ...], root="campaign.message_sequence"
        )
    ordered = sorted(steps, key=lambda s: s.step)
    return typed_leads.shape(typed_leads.message_fields(s.message_type for s in ordered))


def _typed_result(
    wire: typed_leads.RetrieveWire[list[Any]], shape: typed_leads.LeadShape, http_status: int
) -> RetrieveResult | None:
    """The result of a body decoded as ``shape``; None when its sequence calls for another shape."""
    if _shape_of(wire) is not shape:
        return None
    metadata = structure(wire.metadata, Metadata)
    account = Account() if wire.account is msgspec.UNSET else structure(wire.account, Account)
    campaign = Campaign()
    if isinstance(wire.campaign, typed_leads.CampaignWire):
        present = {
            name: value
            for name in _CAMPAIGN_FIELDS
            if (value := getattr(wire.campaign, name)) is not msgspec.UNSET
        }
        campaign = structure(present, Campaign)
        if wire.campaign.leads_data is not msgspec.UNSET:
            campaign = attrs.evolve(campaign, leads_data=shape.build(wire.campaign.leads_data))
    return RetrieveResult(metadata=metadata, account=account, campaign=campaign, http_status=http_status)


def decode_retrieve(body: bytes | dict[str, Any], http_status: int = 200) -> RetrieveResult:
    """A retrieve response (bytes or parsed) as a `RetrieveResult` carrying its HTTP status.

    Every lead is built and checked: a wrong type anywhere raises `ValidationError` naming its wire
    path (``campaign.leads_data[3].linkedin``). Bytes that are not JSON (empty, blank, nested past the
    parser's depth, integers past 64 bits) raise `ValidationError` (a `ValueError` too), never a raw
    parser exception.
    """
    if not isinstance(body, bytes | bytearray | memoryview | str):
        return attrs.evolve(structure(body, RetrieveResult), http_status=http_status)
    typed = _decode_typed(body, http_status)
    if typed is not None:
        return typed
    try:
        data = _JSON.decode(body)
    except (msgspec.DecodeError, RecursionError):
        try:
            data = orjson.loads(body)  # the same acceptance as before msgspec
        except orjson.JSONDecodeError as exc:
            raise ValidationError(
                Problem("", f"body is not JSON ({exc})"), subject="RetrieveResult"
            ) from None
    return attrs.evolve(structure(data, RetrieveResult), http_status=http_status)


def structure_completion_event(data: Any) -> CompletionEvent:
    """The completion webhook body; a `ValidationError` naming the bad field."""
    return structure(data, CompletionEvent)
