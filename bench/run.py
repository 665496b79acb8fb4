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

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import codec, hooks, memory, payloads, relay_run, scale_out, timing, webhook  # noqa: E402 - after the path is set
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

# The targets of issue 14, each a ratio within one run.
TARGET_DECODE = 1.0  # retrieve, full user path, ratio to orjson.loads + dict access, every size
TARGET_MEMORY = 1.5  # peak RSS growth of that decode over the body's bytes
TARGET_COLLECT_DECODE = 1.5
TARGET_COLLECT_ENCODE = 2.0
TARGET_HOOKS = 1.1  # ratio to the same calls written out by hand
TARGET_RELAY_FLOOR = 0.7  # relay leads/s ÷ floor leads/s
TARGET_RELAY_FLAT = 0.9  # ten batches into one home: last three ÷ first three (leads/s)
TARGET_WEBHOOK = 3.0  # ratio to the sequential webhook destination's leads/s


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
        ["decoder (full user path)", "peak RSS growth", f"{X} payload bytes", f"{X} orjson.loads"],
    )
    growth = {name: memory.measure(name, path)["growth"] for name in memory.DECODERS}
    floor = growth[codec.FLOOR]
    ratios = {}
    for name, grown in growth.items():
        ratios[name] = grown / len(body)
        table.rows.append([name, megabytes(grown), f"{grown / len(body):.2f}{X}", ratio(grown, floor)])
    table.notes.append(
        "Each decoder runs in a fresh process that has already read the body and warmed the decoder up "
        "on a small one; the figure is how much the peak RSS grows during the decode and the reading "
        "of every field of every lead, with the result "
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


@attrs.frozen
class RelayFigures:
    """The relay's figures: leads/s fresh, of the floor, and of ten batches into one home."""

    rate: float
    floor_rate: float
    first_three: float
    last_three: float
    fixed_rate: float | None


def bench_relay(
    leads: int, runs: int, same_home_runs: int, tmp: Path
) -> tuple[Table, RelayFigures, pstats.Stats]:
    """Leads per second from the completion webhook to the built-in store, each set in a fresh process.

    Three sets: ``runs`` batches each into a fresh home; the floor (the same rows written directly,
    `relay_run.floor`); ``same_home_runs`` batches in a row into one home. When the shipped server
    spins (`relay_run.server_busy_loops`), the fresh runs are repeated with its poll timeout fixed, as a
    diagnostic.
    """
    profile = tmp / "relay.prof"
    busy = relay_run.server_busy_loops()
    # The profile is of msgrelay's own work, so it is taken with the servers' spinning fixed, if they spin.
    results = _relay_runs(leads, runs, *(() if busy else ("--profile", str(profile))))
    floors = _relay_runs(leads, runs, "--floor")
    home = _relay_runs(leads, same_home_runs, "--same-home")
    seconds = sorted(run["seconds"] for run in results)
    median = statistics.median(seconds)
    fixed_rate = None
    if busy:
        fixed = [
            r["seconds"] for r in _relay_runs(leads, runs, "--int-poll-timeout", "--profile", str(profile))
        ]
        fixed_rate = leads / statistics.median(fixed)
    floor_median = statistics.median(run["seconds"] for run in floors)
    home_rates = [leads / run["seconds"] for run in home]
    first = results[0]
    requests = sorted({", ".join(run["relay_requests"]) for run in results})
    rate, floor_rate = leads / median, leads / floor_median
    figures = RelayFigures(
        rate=rate,
        floor_rate=floor_rate,
        first_three=statistics.mean(home_rates[:3]),
        last_three=statistics.mean(home_rates[-3:]),
        fixed_rate=fixed_rate,
    )
    table = Table(
        f"Relay: completion webhook → built-in store, {leads:,}-lead batches "
        f"({first['messages']:,} messages), against the floor",
        ["figure", "value", f"{X} floor"],
    )
    table.rows += [
        ["relay: median time per batch (fresh home)", timing.fmt_seconds(median), ""],
        [
            "relay: fastest / slowest batch",
            f"{timing.fmt_seconds(seconds[0])} / {timing.fmt_seconds(seconds[-1])}",
            "",
        ],
        ["relay: leads per second (median)", f"{rate:,.0f}", f"{rate / floor_rate:.2f}{X}"],
        ["floor: the same rows written directly, leads/s (median)", f"{floor_rate:,.0f}", f"1.00{X}"],
        *[
            [f"floor: {name}", timing.fmt_seconds(statistics.median(f["tables"][name] for f in floors)), ""]
            for name in floors[0]["tables"]
        ],
        [
            f"{same_home_runs} batches in a row into one home: leads per second of each",
            " / ".join(f"{r:,.0f}" for r in home_rates),
            "",
        ],
        [
            "… last three ÷ first three",
            f"{figures.last_three / figures.first_three:.2f}{X}",
            "",
        ],
        ["HTTP requests per batch: webhook POSTs received", str(first["webhook_posts"]), ""],
        ["HTTP requests per batch: made by the relay", f"{len(first['relay_requests'])} ({requests[0]})", ""],
    ]  # fmt: skip
    table.notes.append(
        f"{runs} batches, each with a fresh ledger and store, submitted through `submit_once` so the "
        "relay joins every submitted lead back (issue 11). The sandbox serves in the same process (its "
        "work building the retrieve body counts against the relay); receiver, worker and store are the "
        "shipped ones; SQLite with WAL and `synchronous=FULL`. The floor writes the rows one relayed "
        "batch leaves (ledger items, outbox rows and their delivered state, store deliveries and "
        "messages) with one `executemany` per table, one transaction each, on the same settings: "
        "no HTTP, no JSON parsing, no hooks. The one-home runs relay into the same ledger and store "
        "one after the other, as a long-running install does."
    )
    table.notes.append(
        "Where the relay's time goes beyond the floor's (cProfile and `sqlite3` timings of one batch, "
        "issue 14): the floor commits 4 transactions, the relay 21 (72 before its delivery rounds grew "
        "for batch destinations: 4x after each clean round that took under a second, up to 16 x "
        "`--batch-size`). The delivery path no longer builds a `Lead` for the store (a delivery builds "
        "its lead on first read; the store writes its rows from the stored payload), garbage "
        "collection is paused per batch and per round (`msgrelay.relay.collection`), and the store's "
        "key index is led by the batch (`msgrelay.destinations.storeschema`), so a growing store no "
        "longer slows its inserts (`python -m bench.relay_run 10000 10 --store-only` times the store "
        "alone). What is left: the store's multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` "
        "costs about 2.5x the floor's plain `executemany` of the same rows, and the fan-out does work "
        "the floor leaves out (the retrieve over HTTP and its decode, the join with the submitted "
        "leads, the hooks, one JSON encode per lead into the outbox). Reaching 0.7 would take inserts "
        "without `RETURNING` (ids assigned in the batch's order, the conflict check done first in one "
        "query) and a fan-out that writes the outbox from the decoded body without a per-lead encode."
    )
    if fixed_rate is not None:
        table.rows.append(
            [
                "diagnostic: leads per second with the servers' poll timeout fixed",
                f"{fixed_rate:,.0f}",
                f"{fixed_rate / floor_rate:.2f}{X}",
            ]
        )
        table.notes.append(
            "`msgrelay.web.server.BackgroundServer` passes a fractional `asyncore_loop_timeout` to "
            "waitress, which reads it as an int: 0, and the serving threads spin. The diagnostic row "
            "serves with a whole-second timeout."
        )
    return table, figures, pstats.Stats(str(profile))


def decode_profile(body: bytes) -> pstats.Stats:
    """cProfile of decoding the largest body and reading every lead."""
    profiler = cProfile.Profile()
    profiler.runcall(lambda: codec.read_msgrelay(convert.decode_retrieve(body, 200)))
    return pstats.Stats(profiler)


def relay_only(*, quick: bool) -> int:
    """``--only relay``: the relay section alone, printed with its two targets."""
    leads, runs, same_home_runs = (2_000, 3, 4) if quick else (10_000, 5, 10)
    with tempfile.TemporaryDirectory(prefix="msgrelay-bench-") as tmp:
        try:
            table, r, _ = bench_relay(leads, runs, same_home_runs, Path(tmp))
        except RelayBenchError as exc:
            print(f"relay: failed: {exc}", file=sys.stderr)
            return 1
    print(table.markdown())
    print(f"relay ÷ floor: {r.rate / r.floor_rate:.2f}{X} ({r.rate:,.0f} vs {r.floor_rate:,.0f} leads/s)")
    flat = r.last_three / r.first_three
    print(f"last three ÷ first three: {flat:.2f}{X} ({r.first_three:,.0f} → {r.last_three:,.0f} leads/s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, 5 rounds: checks the benchmarks run"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where to write (default {RESULTS})")
    parser.add_argument(
        "--only",
        choices=("relay",),
        help="run one section and print its table and targets (RESULTS.md is left alone)",
    )
    args = parser.parse_args()
    if args.only == "relay":
        return relay_only(quick=args.quick)
    sizes = (1_000, 10_000) if args.quick else payloads.SIZES
    relay_leads, relay_runs, same_home_runs = (2_000, 3, 4) if args.quick else (10_000, 5, 10)
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
    collect_table, collect_decode, collect_encode = codec.bench_collect(10_000)
    with tempfile.TemporaryDirectory(prefix="msgrelay-bench-") as tmp:
        step("memory")
        memory_table, memory_ratios = bench_memory(largest, Path(tmp))
        step("hooks")
        hooks_table, hook_ratios = hooks.bench_hooks()
        step("relay")
        relay_figures: RelayFigures | None = None
        relay_stats: pstats.Stats | None = None
        try:
            relay_table, relay_figures, relay_stats = bench_relay(
                relay_leads, relay_runs, same_home_runs, Path(tmp)
            )
        except RelayBenchError as exc:
            relay_table = Table("Relay", ["figure", "value"], [["failed", f"`{exc}`"]])
    step("webhook destination: before, concurrency 1, 8, 16")
    webhook_figures: webhook.WebhookFigures | None = None
    try:
        webhook_table, webhook_figures = webhook.bench_webhook(*((500, 2) if args.quick else (2_000, 5)))
    except webhook.WebhookBenchError as exc:
        webhook_table = Table("Webhook destination", ["figure", "value"], [["failed", f"`{exc}`"]])
    step("scale out: SQLite and PostgreSQL through Celery workers")
    scale_table = scale_out.bench_scale_out(2_000 if args.quick else 10_000)
    step("profiles")
    decode_stats = decode_profile(largest)

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    def per_size(name: str) -> list[float]:
        return [decoded[size][name].median / decoded[size][codec.FLOOR].median for size in sizes]

    ours, pydantic = per_size(codec.MSGRELAY), per_size(codec.PYDANTIC)
    vs_pydantic = [a / b for a, b in zip(ours, pydantic, strict=True)]
    mem_ratio = memory_ratios[codec.MSGRELAY]
    broadcast = hook_ratios[f"on_message_fetched: {hooks.MSGRELAY}"]
    fold = hook_ratios[f"transform_lead fold: {hooks.MSGRELAY}"]
    sizes_label = " / ".join(f"{size // 1000:,}k" for size in sizes)
    rows = [
        [
            f"Upscale retrieve, full user path, ≤ {TARGET_DECODE}{X} `orjson.loads` + dicts ({sizes_label})",
            " / ".join(f"{r:.2f}{X}" for r in ours),
            verdict(max(ours) <= TARGET_DECODE),
        ],
        [
            f"… ahead of pydantic v2 at every size (pydantic: {' / '.join(f'{r:.2f}{X}' for r in pydantic)})",
            " / ".join(f"{r:.2f}{X}" for r in vs_pydantic) + " pydantic's time",
            verdict(max(vs_pydantic) < 1),
        ],
        [
            f"peak memory of that decode ≤ {TARGET_MEMORY}{X} the response's bytes ({sizes[-1]:,} leads)",
            f"{mem_ratio:.2f}{X}",
            verdict(mem_ratio <= TARGET_MEMORY),
        ],
        [
            f"Collect message list, full user path: decode ≤ {TARGET_COLLECT_DECODE}{X} orjson",
            f"{collect_decode[codec.C_MSGRELAY]:.2f}{X} (pydantic {collect_decode[codec.C_PYDANTIC]:.2f}{X})",
            verdict(
                collect_decode[codec.C_MSGRELAY] <= TARGET_COLLECT_DECODE
                and collect_decode[codec.C_MSGRELAY] < collect_decode[codec.C_PYDANTIC]
            ),
        ],
        [
            f"Collect message list: encode ≤ {TARGET_COLLECT_ENCODE}{X} orjson",
            f"{collect_encode[codec.C_MSGRELAY]:.2f}{X} (pydantic {collect_encode[codec.C_PYDANTIC]:.2f}{X})",
            verdict(
                collect_encode[codec.C_MSGRELAY] <= TARGET_COLLECT_ENCODE
                and collect_encode[codec.C_MSGRELAY] < collect_encode[codec.C_PYDANTIC]
            ),
        ],
        [
            f"hook dispatch ≤ {TARGET_HOOKS}{X} the calls by hand: `on_message_fetched`, 1 / 3 / 10 plugins",
            " / ".join(f"{broadcast[n]:.2f}{X}" for n in hooks.PLUGIN_COUNTS),
            verdict(max(broadcast.values()) <= TARGET_HOOKS),
        ],
        [
            f"hook dispatch ≤ {TARGET_HOOKS}{X} the calls by hand: `transform_lead`, 1 / 3 / 10 plugins",
            " / ".join(f"{fold[n]:.2f}{X}" for n in hooks.PLUGIN_COUNTS),
            verdict(max(fold.values()) <= TARGET_HOOKS),
        ],
    ]  # fmt: skip
    if relay_figures is not None:
        r = relay_figures
        rows += [
            [
                f"relay into the store ≥ {TARGET_RELAY_FLOOR}{X} the floor ({relay_leads:,}-lead batch)",
                f"{r.rate / r.floor_rate:.2f}{X} ({r.rate:,.0f} vs {r.floor_rate:,.0f} leads/s)",
                verdict(r.rate / r.floor_rate >= TARGET_RELAY_FLOOR),
            ],
            [
                f"{same_home_runs} batches into one home: last three ≥ {TARGET_RELAY_FLAT}{X} first three",
                f"{r.last_three / r.first_three:.2f}{X} ({r.first_three:,.0f} → {r.last_three:,.0f} leads/s)",
                verdict(r.last_three / r.first_three >= TARGET_RELAY_FLAT),
            ],
        ]  # fmt: skip
    if webhook_figures is not None:
        w = webhook_figures
        hook_rate, hook_before = w.rates[webhook.DEFAULT], w.rates[webhook.BEFORE]
        rows.append(
            [
                f"webhook destination ≥ {TARGET_WEBHOOK}{X} today's leads/s (one `Session.post` per lead)",
                f"{w.gain:.2f}{X} ({hook_rate:,.0f} vs {hook_before:,.0f} leads/s; "
                f"{w.gain_over_sequential:.2f}{X} concurrency 1)",
                verdict(w.gain >= TARGET_WEBHOOK),
            ]
        )
    targets = Table(
        "Targets (issue 14; every ratio within this run)",
        ["target", "measured", "verdict"],
        rows,
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
        webhook_table.markdown(),
        scale_table.markdown(),
        "## Profiles (cProfile, own time)",
        "",
        profile_table(
            decode_stats,
            f"Decode {sizes[-1]:,} leads, then read every field of every lead",
            8,
            "The full user path under cProfile (which inflates Python-level calls against C ones).",
        ).markdown(),
        profile_table(
            codec.collect_profile(10_000),
            "Decode a Collect message list of 10,000 messages",
            8,
            "`orjson.loads`, then `collect.convert.decode_messages`, under cProfile.",
        ).markdown(),
    ]
    if relay_stats is not None:
        sections.append(
            profile_table(
                relay_stats,
                f"Relay one {relay_leads:,}-lead batch (`Relay.process`)"
                + (", servers' poll timeout fixed" if relay_figures and relay_figures.fixed_rate else ""),
                14,
                "Run in the main thread after the timed runs, so the profiler sees it; the sandbox's "
                "server threads are not profiled (cProfile sees one thread).",
            ).markdown()
        )
    args.output.write_text("\n".join(sections))
    step(f"wrote {args.output}")
    return 0 if relay_stats is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
