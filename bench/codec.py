"""Decode and encode, each case doing the same work as a user: bytes → typed result → every field read.

The peers are what a user would pick instead: ``orjson.loads`` and dict access (the untyped floor),
msgspec Structs, pydantic v2 ``model_validate_json``, and attrs classes with cattrs' defaults. Every
decode case ends by reading every field of every lead (or message) through a reader of its own kind,
and each reader returns the same checksum (`check_outputs` refuses to time readers that disagree), so
no case can skip work the others do. msgrelay's decode without the reads is timed too, in a row of its
own labelled as not the same work.
"""

from __future__ import annotations

import cProfile
import operator
import pstats
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from bench import payloads, peers
from bench.report import Table, X, megabytes, ratio
from bench.timing import Sample, compare, fmt_seconds
from msgrelay.collect import convert as collect_convert
from msgrelay.collect.models import EmailMessage, InternalMessage, SmsMessage
from msgrelay.upscale import convert
from msgrelay.upscale.models import RetrieveResult

FLOOR = "orjson.loads + dict access (untyped floor)"
MSGSPEC = "msgspec Structs"
PYDANTIC = "pydantic v2 model_validate_json"
CATTRS = "attrs + cattrs defaults (preconf orjson converter)"
MSGRELAY = "msgrelay decode_retrieve"
MSGRELAY_UNREAD = "msgrelay decode_retrieve, leads built but not read (not the same work)"
SAME_WORK = (FLOOR, MSGSPEC, PYDANTIC, CATTRS, MSGRELAY)

_MESSAGE_ATTRS = (
    "outreach_message",
    "first_follow_up_message",
    "share_material_message",
    "hiring_activity_message",
)


def read_msgrelay(result: RetrieveResult) -> int:
    """Read every field of every lead of msgrelay's result; the checksum every reader returns."""
    seen = 0 if result.metadata.generation_status is None else 1
    for lead in result.leads:
        seen += lead.external_prospect_id is not None
        seen += lead.linkedin is not None
        seen += bool(lead.no_job_posts)
        for text in lead.messages.values():
            seen += text is not None
        seen += len(lead.extra)
    return seen


def read_typed(metadata: Any, leads: Iterable[Any]) -> int:
    """The same reads from msgspec Structs, pydantic models or cattrs' attrs classes."""
    seen = 0 if metadata.generation_status is None else 1
    for lead in leads:
        seen += lead.external_prospect_id is not None
        seen += lead.linkedin is not None
        seen += bool(lead.no_job_posts)
        for text in (
            lead.outreach_message,
            lead.first_follow_up_message,
            lead.share_material_message,
            lead.hiring_activity_message,
        ):
            seen += text is not None
    return seen


def read_dicts(data: dict[str, Any]) -> int:
    """The same reads from ``orjson.loads``' dicts (``.get`` where a key may be absent)."""
    seen = 0 if data["metadata"].get("generation_status") is None else 1
    for lead in data["campaign"]["leads_data"]:
        seen += lead["external_prospect_id"] is not None
        seen += lead.get("linkedin") is not None
        seen += bool(lead.get("no_job_posts"))
        for key in _MESSAGE_ATTRS:
            seen += lead.get(key) is not None
    return seen


def decode_cases(body: bytes) -> dict[str, Callable[[], object]]:
    """The full user path of a retrieve response for every decoder, by name."""

    def msgspec_case() -> int:
        result = peers.MS_RETRIEVE.decode(body)
        return read_typed(result.metadata, result.campaign.leads_data)

    def pydantic_case() -> int:
        result = peers.PdRetrieve.model_validate_json(body)
        return read_typed(result.metadata, result.campaign.leads_data)

    def cattrs_case() -> int:
        result = peers.CA_CONVERTER.structure(orjson.loads(body), peers.CaRetrieve)
        return read_typed(result.metadata, result.campaign.leads_data)

    return {
        FLOOR: lambda: read_dicts(orjson.loads(body)),
        MSGSPEC: msgspec_case,
        PYDANTIC: pydantic_case,
        CATTRS: cattrs_case,
        MSGRELAY: lambda: read_msgrelay(convert.decode_retrieve(body, 200)),
        MSGRELAY_UNREAD: lambda: convert.decode_retrieve(body, 200),
    }


def _sized_table(title: str, first: str, results: dict[int, dict[str, Sample]], floor: str) -> Table:
    header = [first]
    for size in results:
        header += [f"{size:,} leads", f"{X} floor"]
    table = Table(title, header)
    for name in next(iter(results.values())):
        row = [name]
        for samples in results.values():
            row += [fmt_seconds(samples[name].median), ratio(samples[name].median, samples[floor].median)]
        table.rows.append(row)
    return table


def bench_decode(bodies: dict[int, bytes]) -> tuple[Table, dict[int, dict[str, Sample]]]:
    """The full user path of a retrieve response of each size, every decoder."""
    results = {size: compare(decode_cases(body)) for size, body in bodies.items()}
    table = _sized_table(
        "Decode a retrieve response and read every field of every lead (bytes → typed result → fields)",
        "decoder",
        results,
        FLOOR,
    )
    sizes = ", ".join(f"{size:,} leads = {megabytes(len(body))}" for size, body in bodies.items())
    table.notes += [
        f"Payload sizes: {sizes}. Median of the rounds; `{X} floor` is the ratio to `orjson.loads` "
        "plus reading the same fields from its dicts, in the same rounds.",
        "Every row but the last does the same work: parse, build the typed result, then read the id, "
        "LinkedIn URL, notice and every message of every lead; the readers' checksums are compared "
        'before timing. msgspec and cattrs\' defaults drop unknown keys; pydantic (`extra="allow"`) '
        "and msgrelay keep them. The last row is msgrelay's decode alone (every lead built, none read): "
        "it is shown apart and is not a like-for-like figure.",
    ]
    return table, results


ENC_FLOOR = "orjson.dumps of the parsed dicts (untyped floor)"
ENC_MSGSPEC = "msgspec Structs, msgspec.json.encode"
ENC_PYDANTIC = "pydantic v2 model_dump_json"
ENC_CATTRS = "attrs + cattrs defaults, orjson.dumps(unstructure)"
ENC_MSGRELAY = "msgrelay dumps (every lead built)"


def encode_cases(body: bytes) -> dict[str, Callable[[], object]]:
    """The encoders of a decoded retrieve response, by name."""
    parsed = orjson.loads(body)
    struct = peers.MS_RETRIEVE.decode(body)
    model = peers.PdRetrieve.model_validate_json(body)
    classes = peers.CA_CONVERTER.structure(orjson.loads(body), peers.CaRetrieve)
    built = convert.decode_retrieve(body, 200)
    read_msgrelay(built)
    return {
        ENC_FLOOR: lambda: orjson.dumps(parsed),
        ENC_MSGSPEC: lambda: peers.MS_ENCODER.encode(struct),
        ENC_PYDANTIC: lambda: model.model_dump_json(by_alias=True),
        ENC_CATTRS: lambda: peers.CA_CONVERTER.dumps(classes),
        ENC_MSGRELAY: lambda: convert.dumps(built),
    }


def bench_encode(bodies: dict[int, bytes]) -> tuple[Table, dict[int, dict[str, Sample]]]:
    """Encode a decoded retrieve response of each size back to JSON bytes."""
    results = {size: compare(encode_cases(body)) for size, body in bodies.items()}
    table = _sized_table(
        "Encode a retrieve response (typed result → JSON bytes)", "encoder", results, ENC_FLOOR
    )
    table.notes.append(
        f"`{X} floor` is the ratio to `orjson.dumps` of the untyped parse of the same body. msgrelay "
        "encodes a result whose leads were all built (read), as one decoded and then used is."
    )
    return table, results


C_FLOOR = "orjson.loads + dict access (untyped floor)"
C_MSGSPEC = "msgspec tagged union of Structs"
C_PYDANTIC = "pydantic v2 discriminated union, TypeAdapter"
C_CATTRS = "attrs + cattrs defaults, configure_tagged_union"
C_MSGRELAY = "msgrelay collect.convert"

_SNAKE = {
    "internal": ("id", "request_id", "created_at", "title", "text", "updated_at"),
    "email": ("id", "request_id", "created_at", "title", "body", "status", "send_on", "updated_at"),
    "sms": ("id", "request_id", "created_at", "body", "status", "send_on", "title", "updated_at"),
}
_CAMEL = {
    channel: tuple({"request_id": "requestId", "created_at": "createdAt", "updated_at": "updatedAt",
                    "send_on": "sendOn"}.get(name, name) for name in names)
    for channel, names in _SNAKE.items()
}  # fmt: skip
_MSGRELAY_GET = {
    cls: operator.attrgetter(*_SNAKE[channel])
    for cls, channel in ((InternalMessage, "internal"), (EmailMessage, "email"), (SmsMessage, "sms"))
}
_MSGSPEC_GET = {
    peers.MsInternal: operator.attrgetter(*_SNAKE["internal"]),
    peers.MsEmail: operator.attrgetter(*_SNAKE["email"]),
    peers.MsSms: operator.attrgetter(*_SNAKE["sms"]),
}
_PYDANTIC_GET = {
    peers.PdInternal: operator.attrgetter(*_SNAKE["internal"]),
    peers.PdEmail: operator.attrgetter(*_SNAKE["email"]),
    peers.PdSms: operator.attrgetter(*_SNAKE["sms"]),
}
_CATTRS_GET = {
    peers.CaInternal: operator.attrgetter(*_CAMEL["internal"]),
    peers.CaEmail: operator.attrgetter(*_CAMEL["email"]),
    peers.CaSms: operator.attrgetter(*_CAMEL["sms"]),
}


def read_messages(messages: Iterable[Any], getters: Mapping[Any, Any]) -> int:
    """Read every field of every typed message; the count of non-null fields (the checksum)."""
    seen = 0
    for message in messages:
        for value in getters[type(message)](message):
            seen += value is not None
    return seen


def read_message_dicts(messages: Iterable[dict[str, Any]]) -> int:
    """The same reads from dicts."""
    seen = 0
    for message in messages:
        for key in _CAMEL[message["channel"]]:
            seen += message.get(key) is not None
    return seen


def collect_cases(body: bytes) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """The full user path of a Collect message list (decode cases, encode cases), by name."""
    decode: dict[str, Callable[[], object]] = {
        C_FLOOR: lambda: read_message_dicts(orjson.loads(body)),
        C_MSGSPEC: lambda: read_messages(peers.MS_MESSAGES.decode(body), _MSGSPEC_GET),
        C_PYDANTIC: lambda: read_messages(peers.PD_MESSAGES.validate_json(body), _PYDANTIC_GET),
        C_CATTRS: lambda: read_messages(
            peers.CA_CONVERTER.structure(orjson.loads(body), peers.CaMessages), _CATTRS_GET
        ),
        C_MSGRELAY: lambda: read_messages(collect_convert.decode_messages(body), _MSGRELAY_GET),
    }
    parsed = orjson.loads(body)
    structs = peers.MS_MESSAGES.decode(body)
    models = peers.PD_MESSAGES.validate_json(body)
    classes = peers.CA_CONVERTER.structure(orjson.loads(body), peers.CaMessages)
    messages = collect_convert.decode_messages(parsed)
    encode: dict[str, Callable[[], object]] = {
        C_FLOOR: lambda: orjson.dumps(parsed),
        C_MSGSPEC: lambda: peers.MS_ENCODER.encode(structs),
        C_PYDANTIC: lambda: peers.PD_MESSAGES.dump_json(models, by_alias=True, exclude_none=True),
        C_CATTRS: lambda: peers.CA_CONVERTER.dumps(classes, peers.CaMessages),
        C_MSGRELAY: lambda: orjson.dumps(collect_convert.encode(messages)),
    }
    return decode, encode


def bench_collect(count: int) -> tuple[Table, dict[str, float], dict[str, float]]:
    """Decode (with every field read) and encode a Collect message list; the table and the ratios."""
    body = payloads.collect_list_bytes(count)
    decode_cases_, encode_cases_ = collect_cases(body)
    decoded = compare(decode_cases_)
    encoded = compare(encode_cases_)
    table = Table(
        f"Collect message list ({count:,} messages, {megabytes(len(body))}): decode + read all; encode",
        ["decoder / encoder", "decode + read", f"{X} floor", "encode", f"{X} floor"],
    )
    for name in decoded:
        table.rows.append(
            [
                name,
                fmt_seconds(decoded[name].median),
                ratio(decoded[name].median, decoded[C_FLOOR].median),
                fmt_seconds(encoded[name].median),
                ratio(encoded[name].median, encoded[C_FLOOR].median),
            ]
        )
    table.notes.append(
        "A bare array of internal, email and SMS messages, as the list endpoint returns it; timestamps "
        "parsed to datetimes by every typed decoder. msgrelay's figure is what `CollectClient` does "
        "(`collect.convert.decode_messages` of the body's bytes), then the same reads as the others. "
        "Encode floor: `orjson.dumps` of the parsed list; msgrelay encodes with `collect.convert.encode`, "
        "then `orjson.dumps`."
    )
    decode_ratios = {name: decoded[name].median / decoded[C_FLOOR].median for name in decoded}
    encode_ratios = {name: encoded[name].median / encoded[C_FLOOR].median for name in encoded}
    return table, decode_ratios, encode_ratios


def collect_profile(count: int) -> pstats.Stats:
    """cProfile of decoding a Collect message list as the client does."""
    body = payloads.collect_list_bytes(count)
    collect_convert.decode_messages(body)
    profiler = cProfile.Profile()
    profiler.runcall(lambda: collect_convert.decode_messages(body))
    return pstats.Stats(profiler)


def check_outputs(body: bytes) -> None:
    """Refuse to time cases that disagree: every reader's checksum and every encoder's JSON."""
    expected: Any = orjson.loads(body)
    sums = {name: case() for name, case in decode_cases(body).items() if name != MSGRELAY_UNREAD}
    assert len(set(sums.values())) == 1, sums
    result = convert.decode_retrieve(body, 200)
    assert orjson.loads(convert.dumps(result)) == expected
    model = peers.PdRetrieve.model_validate_json(body)
    assert orjson.loads(model.model_dump_json(by_alias=True, exclude_unset=True)) == expected
    collect_body = payloads.collect_list_bytes(60)
    decode, encode = collect_cases(collect_body)
    collect_sums = {name: case() for name, case in decode.items()}
    assert len(set(collect_sums.values())) == 1, collect_sums
    for name, case in encode.items():
        out = orjson.loads(case())  # type: ignore[arg-type]
        assert len(out) == 60, name
