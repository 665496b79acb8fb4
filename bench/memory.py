"""Peak memory of one decode, measured in a fresh process: ``python -m bench.memory DECODER BODY_FILE``.

The child imports everything and warms the decoder up on a small body first, then reads the body,
notes its peak RSS (``ru_maxrss``), decodes, and notes the peak again. It prints one JSON object:
the body's size and the growth of the peak, in bytes.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from bench import payloads, peers
from bench.codec import read_every_lead
from msgrelay.upscale import convert

ROOT = Path(__file__).resolve().parent.parent

DECODERS: dict[str, Callable[[bytes], object]] = {
    "orjson.loads (untyped floor)": orjson.loads,
    "msgspec Structs": peers.MS_RETRIEVE.decode,
    "pydantic v2 model_validate_json": peers.PdRetrieve.model_validate_json,
    "msgrelay decode_retrieve": lambda body: convert.decode_retrieve(body, 200),
    "msgrelay decode_retrieve, then read every lead": lambda body: read_every_lead(
        convert.decode_retrieve(body)
    ),
}


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def measure_here(name: str, path: Path) -> dict[str, int]:
    """Decode the body in ``path`` with decoder ``name``, in this process."""
    decode = DECODERS[name]
    decode(payloads.retrieve_bytes(10))
    body = path.read_bytes()
    gc.collect()
    before = _peak_rss()
    result = decode(body)
    after = _peak_rss()
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
