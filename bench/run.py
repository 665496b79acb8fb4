"""Run every benchmark and write ``bench/RESULTS.md``: ``make bench`` (or ``python bench/run.py``).

Every figure is a median over several rounds and is shown as a ratio to a peer measured in the same
run: these machines are noisy, so only ratios within one run mean anything. ``--quick`` runs small
sizes and fewer rounds, to check the benchmarks themselves; its figures are not worth quoting.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import importlib.metadata
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import codec, hooks, memory, payloads, relay_run, scale_out, timing  # noqa: E402 - after the path is set
from bench.report import Table, X, megabytes, ratio  # noqa: E402
from msgrelay.upscale import convert  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
COMMAND = "make bench"
PACKAGES = (
    "msgrelay",
    "attrs",
    "cattrs",
    "orjson",
    "msgspec",
    "pydantic",
    "pydantic-core",
    "pluggy",
    "requests",
    "waitress",
)

TARGET_DECODE = 1.5
TARGET_MEMORY = 2.5
TARGET_HOOKS = 1.5
TARGET_RELAY = 5_000.0


def machine() -> list[str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
        f"load average {load:.2f} at the start",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- {', '.join(versions)}",
    ]


def profile_table(stats: pstats.Stats, title: str, top: int, note: str) -> Table:
    """The functions with the most time of their own."""
    table = Table(title, ["function", "calls", "own time", "with callees"], notes=[note])
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(value[2] for _, value in rows)
    for (filename, line, name), (_, calls, own, cumulative, _) in rows[:top]:
        where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
        table.rows.append(
            [f"`{where}`", f"{calls:,}", f"{own:.3f} s ({own / total:.0%})", f"{cumulative:.3f} s"]
        )
    return table


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("msgrelay", "site-packages", "bench"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[index:] if anchor != "site-packages" else parts[index + 1 :])
    return Path(filename).name


def bench_memory(body: bytes, tmp: Path) -> tuple[Table, dict[str, float]]:
    """Peak RSS growth of each decoder on the largest body, each in a fresh process."""
    path = tmp / "retrieve.json"
    path.write_bytes(body)
    table = Table(
        f"Peak memory of one decode of the {len(body) // 1000:,} kB response ({megabytes(len(body))})",
        ["decoder", "peak RSS growth", f"{X} payload bytes", f"{X} orjson.loads"],
    )
    growth = {name: memory.measure(name, path)["growth"] for name in memory.DECODERS}
    floor = growth[next(iter(growth))]
    ratios = {}
    for name, grown in growth.items():
        ratios[name] = grown / len(body)
        table.rows.append([name, megabytes(grown), f"{grown / len(body):.2f}{X}", ratio(grown, floor)])
    table.notes.append(
        "Each decoder runs in a fresh process that has already read the body and warmed the decoder up "
        "on a small one; the figure is how much the peak RSS grows during the decode, with the result "
        "alive (Linux: `VmHWM` after resetting it through `/proc/self/clear_refs`). orjson builds an "
        "intermediate document before the Python objects, which is why its peak is higher than "
        "msgspec's; msgrelay parses with msgspec."
    )
    return table, ratios


class RelayBenchError(Exception):
    """The relay benchmark did not complete (the message is the child's last line of stderr)."""


def _relay_runs(leads: int, runs: int, *options: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.relay_run", str(leads), str(runs), *options],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        raise RelayBenchError(last)
    found: list[dict[str, Any]] = json.loads(out.stdout)["runs"]
    return found


def bench_relay(leads: int, runs: int, tmp: Path) -> tuple[Table, float, pstats.Stats, float | None]:
    """Leads per second from the completion webhook to the built-in store, in a fresh process.

    When the shipped server spins (`relay_run.server_busy_loops`), the same runs are repeated with
    its poll timeout fixed, as a diagnostic: what that one-line fix gives, in the same run.
    """
    profile = tmp / "relay.prof"
    busy = relay_run.server_busy_loops()
    # The profile is of msgrelay's own work, so it is taken with the servers' spinning fixed, if they spin.
    results = _relay_runs(leads, runs, *(() if busy else ("--profile", str(profile))))
    seconds = sorted(run["seconds"] for run in results)
    median = statistics.median(seconds)
    fixed_rate = None
    if busy:
        fixed = [
            r["seconds"] for r in _relay_runs(leads, runs, "--int-poll-timeout", "--profile", str(profile))
        ]
        fixed_rate = leads / statistics.median(fixed)
    first = results[0]
    requests = sorted({", ".join(run["relay_requests"]) for run in results})
    table = Table(
        f"Relay: completion webhook → built-in store, {leads:,}-lead batches "
        f"({first['messages']:,} messages)",
        ["figure", "value", f"{X} target"],
    )
    rate = leads / median
    table.rows += [
        ["median time per batch", timing.fmt_seconds(median), ""],
        [
            "fastest / slowest batch",
            f"{timing.fmt_seconds(seconds[0])} / {timing.fmt_seconds(seconds[-1])}",
            "",
        ],
        ["leads per second (median)", f"{rate:,.0f}", f"{rate / TARGET_RELAY:.2f}{X} of {TARGET_RELAY:,.0f}"],
        ["HTTP requests per batch: webhook POSTs received", str(first["webhook_posts"]), ""],
        ["HTTP requests per batch: made by the relay", f"{len(first['relay_requests'])} ({requests[0]})", ""],
    ]
    table.notes.append(
        f"{runs} batches, each with a fresh ledger and store. The sandbox serves in the same process "
        "(its work building the retrieve body counts against the relay); receiver, worker and store are "
        "the shipped ones; SQLite with `synchronous=FULL`."
    )
    if fixed_rate is not None:
        table.rows.append(
            [
                "diagnostic: leads per second with the servers' poll timeout fixed",
                f"{fixed_rate:,.0f}",
                f"{fixed_rate / TARGET_RELAY:.2f}{X} of {TARGET_RELAY:,.0f}",
            ]
        )
        table.notes.append(
            "`msgrelay.web.server.BackgroundServer` passes `asyncore_loop_timeout=0.2` to waitress, which "
            "reads it as an int: 0. Each server thread (the sandbox's and the receiver's) then polls "
            "without ever sleeping, holding a core and the GIL, and the relay's thread runs at a fraction "
            "of its speed. The diagnostic row serves with a whole-second timeout (waitress's default; "
            "stopping does not depend on it, since `stop` pulls the trigger): the fix is that argument."
        )
    return table, rate, pstats.Stats(str(profile)), fixed_rate


def decode_profile(body: bytes) -> pstats.Stats:
    """cProfile of decoding the largest body and reading every lead."""
    profiler = cProfile.Profile()
    profiler.runcall(lambda: codec.read_every_lead(convert.decode_retrieve(body, 200)))
    return pstats.Stats(profiler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, 5 rounds: checks the benchmarks run"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where to write (default {RESULTS})")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.quick else payloads.SIZES
    relay_leads, relay_runs = (2_000, 5) if args.quick else (10_000, 5)
    timing_rounds = 5 if args.quick else timing.ROUNDS
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    header = machine()
    step("building payloads")
    bodies = {size: payloads.retrieve_bytes(size) for size in sizes}
    largest = bodies[sizes[-1]]
    codec.check_outputs(bodies[sizes[0]])
    timing.ROUNDS = timing_rounds
    step("decode")
    decode_table, decoded = codec.bench_decode(bodies)
    step("encode")
    encode_table, _ = codec.bench_encode(bodies)
    step("collect")
    collect_table = codec.bench_collect(10_000)
    with tempfile.TemporaryDirectory(prefix="msgrelay-bench-") as tmp:
        step("memory")
        memory_table, memory_ratios = bench_memory(largest, Path(tmp))
        step("hooks")
        hooks_table, hook_ratios = hooks.bench_hooks()
        step("relay")
        try:
            relay_table, relay_rate, relay_stats, fixed_rate = bench_relay(relay_leads, relay_runs, Path(tmp))
        except RelayBenchError as exc:
            failure = str(exc)
            relay_table = Table("Relay", ["figure", "value"], [["failed", f"`{failure}`"]])
            relay_rate, relay_stats, fixed_rate = 0.0, None, None
    step("scale out: SQLite and PostgreSQL through Celery workers")
    scale_table = scale_out.bench_scale_out(2_000 if args.quick else 10_000)
    step("profiles")
    decode_stats = decode_profile(largest)

    big = decoded[sizes[-1]]
    decode_ratio = big[codec.MSGRELAY].median / big[codec.FLOOR].median
    read_ratio = big[codec.MSGRELAY_READ].median / big[codec.FLOOR].median
    vs_pydantic = big[codec.MSGRELAY].median / big[codec.PYDANTIC].median
    vs_msgspec = big[codec.MSGRELAY].median / big[codec.MSGSPEC].median
    mem_ratio = memory_ratios["msgrelay decode_retrieve"]
    broadcast = hook_ratios[f"on_message_fetched: {hooks.MSGRELAY}"]
    fold = hook_ratios[f"transform_lead fold: {hooks.MSGRELAY}"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    targets = Table(
        "Targets",
        ["target", "measured", "verdict"],
        [
            [
                f"typed decode of {sizes[-1]:,} leads ≤ {TARGET_DECODE}{X} `orjson.loads`",
                f"{decode_ratio:.2f}{X} (with every lead built: {read_ratio:.2f}{X})",
                verdict(decode_ratio <= TARGET_DECODE),
            ],
            [
                "… and faster than pydantic v2",
                f"{vs_pydantic:.2f}{X} pydantic's time ({vs_msgspec:.2f}{X} msgspec's)",
                verdict(vs_pydantic < 1),
            ],
            [
                f"peak memory of that decode ≤ {TARGET_MEMORY}{X} the response's bytes",
                f"{mem_ratio:.2f}{X}",
                verdict(mem_ratio <= TARGET_MEMORY),
            ],
            [
                f"hook dispatch ≤ {TARGET_HOOKS}{X} the plain loop: `on_message_fetched`, 1 / 3 / 10 plugins",
                " / ".join(f"{broadcast[n]:.2f}{X}" for n in hooks.PLUGIN_COUNTS),
                verdict(max(broadcast.values()) <= TARGET_HOOKS),
            ],
            [
                f"hook dispatch ≤ {TARGET_HOOKS}{X} the plain loop: `transform_lead`, 1 / 3 / 10 plugins",
                " / ".join(f"{fold[n]:.2f}{X}" for n in hooks.PLUGIN_COUNTS),
                verdict(max(fold.values()) <= TARGET_HOOKS),
            ],
            [
                f"relay ≥ {TARGET_RELAY:,.0f} leads/s end to end on loopback ({relay_leads:,}-lead batch)",
                f"{relay_rate:,.0f} leads/s"
                + (f" ({fixed_rate:,.0f} with the server fix below)" if fixed_rate is not None else ""),
                verdict(relay_rate >= TARGET_RELAY),
            ],
        ],
        figures_from=3,
    )
    if args.quick:
        targets.notes.append("`--quick` run: small sizes; these figures are not the ones to quote.")
    sections = [
        "# msgrelay benchmarks",
        "",
        f"Written by `{COMMAND}` (`python bench/run.py{' --quick' if args.quick else ''}`); do not edit. "
        f"Every time is the median of {timing_rounds} interleaved rounds, and every ratio is against a peer "
        "measured in the same rounds of the same run. Absolute times vary between machines; the ratios "
        "are what carry over.",
        "",
        *header,
        "",
        targets.markdown(),
        decode_table.markdown(),
        encode_table.markdown(),
        collect_table.markdown(),
        memory_table.markdown(),
        hooks_table.markdown(),
        relay_table.markdown(),
        scale_table.markdown(),
        "## Profiles (cProfile, own time)",
        "",
        profile_table(
            decode_stats,
            f"Decode {sizes[-1]:,} leads, then read every lead",
            8,
            "Decoding is msgspec's parse plus one `msgspec.convert` check of every lead (`_leads_pass`); "
            "reading builds each `Lead` (`structure_lead`, attrs `__init__`).",
        ).markdown(),
        profile_table(
            codec.collect_profile(10_000),
            "Decode a Collect message list of 10,000 messages",
            8,
            "Most of the time is in `collect.timestamps.parse_timestamp` (a regex, `fromisoformat`, "
            "then `replace`), two per message, and in the generated cattrs hooks.",
        ).markdown(),
    ]
    if relay_stats is not None:
        sections.append(
            profile_table(
                relay_stats,
                f"Relay one {relay_leads:,}-lead batch (`Relay.process`)"
                + (", servers' poll timeout fixed" if fixed_rate is not None else ""),
                14,
                "Run in the main thread after the timed runs, so the profiler sees it; the sandbox's "
                "server threads are not profiled. cProfile sees one thread: the servers' spinning, "
                "which costs most when it happens, was found by sampling every thread's stack "
                "(`sys._current_frames`) during a run, and by timing the same SQLite work with and "
                "without an idle server in the process.",
            ).markdown()
        )
    args.output.write_text("\n".join(sections))
    step(f"wrote {args.output}")
    return 0 if relay_stats is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
