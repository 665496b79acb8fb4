"""Decode and encode: msgrelay's typed results against orjson (untyped floor), msgspec and pydantic v2."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from typing import Any

import orjson

from bench import payloads, peers
from bench.report import Table, X, megabytes, ratio
from bench.timing import Sample, compare, fmt_seconds
from msgrelay.collect import convert as collect_convert
from msgrelay.upscale import convert
from msgrelay.upscale.models import RetrieveResult

FLOOR = "orjson.loads (untyped floor)"
MSGSPEC = "msgspec Structs (fastest typed peer)"
PYDANTIC = "pydantic v2 model_validate_json"
MSGRELAY = "msgrelay decode_retrieve"
MSGRELAY_READ = "msgrelay decode_retrieve, then read every lead"


def read_every_lead(result: RetrieveResult) -> RetrieveResult:
    """Touch every lead, so a lazily built sequence builds them all."""
    for _ in result.leads:
        pass
    return result


def decode_cases(body: bytes) -> dict[str, Callable[[], object]]:
    """The decoders of a retrieve response, by name."""
    return {
        FLOOR: lambda: orjson.loads(body),
        MSGSPEC: lambda: peers.MS_RETRIEVE.decode(body),
        PYDANTIC: lambda: peers.PdRetrieve.model_validate_json(body),
        MSGRELAY: lambda: convert.decode_retrieve(body, 200),
        MSGRELAY_READ: lambda: read_every_lead(convert.decode_retrieve(body, 200)),
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
    """Decode a retrieve response of each size with every decoder."""
    results = {size: compare(decode_cases(body)) for size, body in bodies.items()}
    table = _sized_table("Decode a retrieve response (bytes → typed result)", "decoder", results, FLOOR)
    sizes = ", ".join(f"{size:,} leads = {megabytes(len(body))}" for size, body in bodies.items())
    table.notes += [
        f"Payload sizes: {sizes}. Median of the rounds; `{X} floor` is the ratio to `orjson.loads` "
        "of the same bytes in the same rounds.",
        'msgspec drops unknown keys (it cannot keep them); pydantic keeps them (`extra="allow"`), '
        "as msgrelay does. msgrelay checks every field of every lead when decoding, and builds each "
        "`Lead` when it is first read: the last row is the cost with every lead built.",
    ]
    return table, results


ENC_FLOOR = "orjson.dumps of the parsed dicts (untyped floor)"
ENC_MSGSPEC = "msgspec Structs, msgspec.json.encode"
ENC_PYDANTIC = "pydantic v2 model_dump_json"
ENC_MSGRELAY_READ = "msgrelay dumps, every lead read"
ENC_MSGRELAY_LAZY = "msgrelay dumps, leads unread"


def encode_cases(body: bytes) -> dict[str, Callable[[], object]]:
    """The encoders of a decoded retrieve response, by name."""
    parsed = orjson.loads(body)
    struct = peers.MS_RETRIEVE.decode(body)
    model = peers.PdRetrieve.model_validate_json(body)
    read = read_every_lead(convert.decode_retrieve(body, 200))
    lazy = convert.decode_retrieve(body, 200)
    return {
        ENC_FLOOR: lambda: orjson.dumps(parsed),
        ENC_MSGSPEC: lambda: peers.MS_ENCODER.encode(struct),
        ENC_PYDANTIC: lambda: model.model_dump_json(by_alias=True),
        ENC_MSGRELAY_READ: lambda: convert.dumps(read),
        ENC_MSGRELAY_LAZY: lambda: convert.dumps(lazy),
    }


def bench_encode(bodies: dict[int, bytes]) -> tuple[Table, dict[int, dict[str, Sample]]]:
    """Encode a decoded retrieve response of each size back to JSON bytes."""
    results = {size: compare(encode_cases(body)) for size, body in bodies.items()}
    table = _sized_table(
        "Encode a retrieve response (typed result → JSON bytes)", "encoder", results, ENC_FLOOR
    )
    table.notes.append(
        f"`{X} floor` is the ratio to `orjson.dumps` of the untyped parse of the same body. "
        "Every encoder's output decodes to the same JSON (msgspec's lacks unknown keys; there are none here)."
    )
    return table, results


C_FLOOR = "orjson.loads (untyped floor)"
C_MSGSPEC = "msgspec tagged union of Structs"
C_PYDANTIC = "pydantic v2 discriminated union, TypeAdapter.validate_json"
C_MSGRELAY = "msgrelay decode_messages(orjson.loads(body))"


def bench_collect(count: int) -> Table:
    """Decode and encode a Collect message list (internal, email and SMS messages, timestamps parsed)."""
    body = payloads.collect_list_bytes(count)
    decoded = compare(
        {
            C_FLOOR: lambda: orjson.loads(body),
            C_MSGSPEC: lambda: peers.MS_MESSAGES.decode(body),
            C_PYDANTIC: lambda: peers.PD_MESSAGES.validate_json(body),
            C_MSGRELAY: lambda: collect_convert.decode_messages(orjson.loads(body)),
        }
    )
    parsed = orjson.loads(body)
    structs = peers.MS_MESSAGES.decode(body)
    models = peers.PD_MESSAGES.validate_json(body)
    messages = collect_convert.decode_messages(parsed)
    encoded = compare(
        {
            C_FLOOR: lambda: orjson.dumps(parsed),
            C_MSGSPEC: lambda: peers.MS_ENCODER.encode(structs),
            C_PYDANTIC: lambda: peers.PD_MESSAGES.dump_json(models, by_alias=True, exclude_none=True),
            C_MSGRELAY: lambda: orjson.dumps(collect_convert.encode(messages)),
        }
    )
    table = Table(
        f"Collect message list ({count:,} messages, {megabytes(len(body))})",
        ["decoder / encoder", "decode", f"{X} floor", "encode", f"{X} floor"],
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
        "A bare array, as the list endpoint returns it; msgrelay's figure is what `CollectClient` does "
        "(`orjson.loads`, then `collect.convert.decode_messages`). Encode floor: `orjson.dumps` of the "
        "parsed list; msgrelay encodes with `collect.convert.encode`, then `orjson.dumps`. Where the "
        "time goes: the profile below."
    )
    return table


def collect_profile(count: int) -> pstats.Stats:
    """cProfile of decoding a Collect message list as the client does."""
    body = payloads.collect_list_bytes(count)
    collect_convert.decode_messages(orjson.loads(body))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: collect_convert.decode_messages(orjson.loads(body)))
    return pstats.Stats(profiler)


def check_outputs(body: bytes) -> None:
    """Refuse to time decoders or encoders that disagree with each other."""
    expected: Any = orjson.loads(body)
    result = convert.decode_retrieve(body, 200)
    assert orjson.loads(convert.dumps(result)) == expected
    assert orjson.loads(convert.dumps(read_every_lead(result))) == expected
    struct = peers.MS_RETRIEVE.decode(body)
    assert len(struct.campaign.leads_data) == len(result.leads)
    model = peers.PdRetrieve.model_validate_json(body)
    assert orjson.loads(model.model_dump_json(by_alias=True, exclude_unset=True)) == expected
