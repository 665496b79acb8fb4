"""Peak memory of one decode, measured in a fresh process: ``python -m bench.memory DECODER BODY_FILE``.

The child imports everything and warms the decoder up on a small body, reads the body, resets the
kernel's peak-RSS mark (``/proc/self/clear_refs``), decodes, and reads the peak (``VmHWM``) again,
with the result alive. Where ``/proc`` cannot be written (macOS), the peak is `resource`'s
``ru_maxrss``, which cannot be reset, so it is only right for bodies larger than anything before.
Each decoder takes the full user path: parse, build the typed result, read every field of every
lead. It prints one JSON object: the body's size and the growth of the peak, in bytes.
"""

from __future__ import annotations

import gc
import json
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import codec, payloads, peers
from msgrelay.upscale import convert

ROOT = Path(__file__).resolve().parent.parent


def _read(result: Any, reader: Callable[[Any], int]) -> Any:
    reader(result)
    return result


#: The full user path of each decoder (parse, build, read every field), returning the result.
DECODERS: dict[str, Callable[[bytes], object]] = {
    codec.FLOOR: lambda body: _read(orjson.loads(body), codec.read_dicts),
    codec.MSGSPEC: lambda body: _read(
        peers.MS_RETRIEVE.decode(body), lambda r: codec.read_typed(r.metadata, r.campaign.leads_data)
    ),
    codec.PYDANTIC: lambda body: _read(
        peers.PdRetrieve.model_validate_json(body),
        lambda r: codec.read_typed(r.metadata, r.campaign.leads_data),
    ),
    codec.CATTRS: lambda body: _read(
        peers.CA_CONVERTER.structure(orjson.loads(body), peers.CaRetrieve),
        lambda r: codec.read_typed(r.metadata, r.campaign.leads_data),
    ),
    codec.MSGRELAY: lambda body: _read(convert.decode_retrieve(body, 200), codec.read_msgrelay),
}


def _status(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {field} in /proc/self/status")
    return int(match.group(1)) * 1024


def _reset_peak() -> int | None:
    """Reset the peak-RSS mark; the RSS now, or None where the mark cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmRSS")
    except OSError:
        return None


def _peak(reset: bool) -> int:
    if reset:
        return _status("VmHWM")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def measure_here(name: str, path: Path) -> dict[str, int]:
    """Decode the body in ``path`` with decoder ``name``, in this process."""
    decode = DECODERS[name]
    decode(payloads.retrieve_bytes(10))
    body = path.read_bytes()
    gc.collect()
    now = _reset_peak()
    before = now if now is not None else _peak(reset=False)
    result = decode(body)
    after = _peak(reset=now is not None)
    del result
    return {"size": len(body), "before": before, "after": after, "growth": after - before}


def measure(name: str, path: Path) -> dict[str, int]:
    """`measure_here` in a fresh Python process."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", name, str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    data: dict[str, int] = json.loads(out.stdout)
    return data


if __name__ == "__main__":
    print(json.dumps(measure_here(sys.argv[1], Path(sys.argv[2]))))
