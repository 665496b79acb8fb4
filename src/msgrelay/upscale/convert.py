"""The cattrs converter for Upscale Outreach payloads.

Fixed-shape classes get cattrs-generated hooks (`register_open_class`). A lead's shape is open (one
``*_message`` key per requested type, plus whatever the vendor adds), and a retrieve response can hold
tens of thousands of them, so `Lead` gets one direct hook that reads each key once: identity keys,
message keys into ``messages``, ``no_job_posts``, the rest into ``extra``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.errors import ClassValidationError
from cattrs.gen import AttributeValidationNote
from cattrs.preconf.orjson import OrjsonConverter

from msgrelay import _convert
from msgrelay.errors import Problem, ValidationError
from msgrelay.upscale import models
from msgrelay.upscale.models import (
    Account,
    Campaign,
    CompletionEvent,
    Credits,
    GenerationRequest,
    GenerationTicket,
    Lead,
    LeadInput,
    MessageStep,
    Metadata,
    RetrieveResult,
    SequenceStep,
    SequenceTemplate,
)

T = TypeVar("T")

_MESSAGE_TYPE = {"message_type": "messageType"}
_LEAD_IDENTITY = ("external_prospect_id", "linkedin", "no_job_posts")


_IDENTITY = "\0identity"
_NOT_A_MESSAGE = "\0other"
#: Lead key → message type (or a marker); filled as keys are first seen, since a response repeats
#: the same handful of keys on every lead.
_KIND_OF_KEY: dict[str, str] = {}


def _classify(key: str) -> str:
    if key in _LEAD_IDENTITY:
        return _IDENTITY
    return models.message_type_of_field(key) or _NOT_A_MESSAGE


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
        kind = _KIND_OF_KEY.get(key)
        if kind is None:
            kind = _KIND_OF_KEY[key] = _classify(key)
        if kind is _IDENTITY:
            continue
        if kind is _NOT_A_MESSAGE:
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
    return Lead(
        external_prospect_id=prospect,
        linkedin=linkedin,
        messages=messages,
        no_job_posts=no_job_posts,
        extra=extra,
    )


def unstructure_lead(lead: Lead) -> dict[str, Any]:
    """The wire object of a `Lead` (message types back to their ``*_message`` keys)."""
    out: dict[str, Any] = {"external_prospect_id": lead.external_prospect_id, "linkedin": lead.linkedin}
    field = models.message_field
    for kind, text in lead.messages.items():
        out[field(kind)] = text
    if lead.no_job_posts is not None:
        out["no_job_posts"] = lead.no_job_posts
    if lead.extra:
        out.update(lead.extra)
    return out


def configure_converter(conv: cattrs.Converter) -> None:
    """Register the hooks of every Upscale payload on ``conv``."""
    conv.register_structure_hook(Lead, structure_lead)
    conv.register_unstructure_hook(Lead, unstructure_lead)
    conv.register_structure_hook_func(_convert.is_exactly(tuple[Lead, ...]), _structure_leads)
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
                raise cattrs.IterableValidationError("While structuring leads_data", [exc], tuple[Lead, ...]) from None
        raise


def _index_note(index: int) -> Any:
    from cattrs.errors import IterableValidationNote  # noqa: PLC0415 - only needed on the error path

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


def decode_retrieve(body: bytes | dict[str, Any], http_status: int = 200) -> RetrieveResult:
    """A retrieve response (bytes or parsed) as a `RetrieveResult` carrying its HTTP status."""
    data = orjson.loads(body) if isinstance(body, bytes | bytearray | memoryview | str) else body
    return attrs.evolve(structure(data, RetrieveResult), http_status=http_status)


def structure_completion_event(data: Any) -> CompletionEvent:
    """The completion webhook body; a `ValidationError` naming the bad field."""
    return structure(data, CompletionEvent)
