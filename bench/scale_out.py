"""Relay leads/s through ``msgrelay serve`` and Celery workers: SQLite, then PostgreSQL with 1 and 2 workers.

Each configuration gets a fresh ledger, one receiver and N ``msgrelay worker`` processes (2 threads
each) on a Redis broker; the clock runs from the first webhook until the ledger records every lead
delivered to the built-in store. PostgreSQL and Redis are the suite's own throwaway servers
(`tests.servers`); without them the table says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests
from tests import servers

from bench.report import Table
from msgrelay.ledger import open_ledger
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale import UpscaleClient

PER_GENERATION = 1_000
SECRET = "bench-secret"


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not (callable(condition) and condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process whose output (Celery's banner included) goes to ``log``, not the bench's report."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def one_config(
    url: str, workers: int, leads: int, redis: servers.Redis, sandbox: Sandbox, home: Path
) -> float:
    """Leads/s for one ledger URL and worker count."""
    redis.flush()
    env = {
        **os.environ,
        "MSGRELAY_HOME": str(home),
        "MSGRELAY_LEDGER_URL": url,
        "MSGRELAY_BROKER_URL": redis.url,
        "MSGRELAY_DESTINATIONS": "store",
        "MSGRELAY_WEBHOOK_SECRET": SECRET,
        "MSGRELAY_LOAD_PLUGINS": "",
        "UPSCALE_API_KEY": sandbox.upscale_api_key,
        "UPSCALE_BASE_URL": sandbox.upscale_url,
    }
    exe = str(Path(sys.executable).with_name("msgrelay"))
    port = servers.free_port()
    logs = [home / f"worker{i}.log" for i in range(workers)]
    home.mkdir(parents=True, exist_ok=True)
    procs = [_spawn([exe, "serve", "--port", str(port)], env, home / "serve.log")]
    procs += [
        subprocess.Popen(
            [exe, "worker", "--concurrency", "2", *(["--beat"] if i == 0 else [])],
            env=env,
            stderr=log.open("wb"),
        )
        for i, log in enumerate(logs)
    ]
    ledger = open_ledger(url)
    try:
        receiver = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(receiver), 60, "the receiver")
        _wait(lambda: all(b"ready" in log.read_bytes() for log in logs), 60, "the workers")
        with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client:
            sids = [
                client.request_generation(
                    make_request(PER_GENERATION, prefix=f"{uuid.uuid4().hex[:6]}-l")
                ).secure_request_id
                for _ in range(leads // PER_GENERATION)
            ]
        _wait(lambda: all(sandbox.upscale.completion_event(s) for s in sids), 60, "generation")
        started = time.perf_counter()
        for sid in sids:
            requests.post(
                f"{receiver}/webhooks/upscale", json=sandbox.upscale.completion_event(sid),
                params={"token": SECRET}, timeout=30,
            ).raise_for_status()  # fmt: skip
        total = len(sids) * PER_GENERATION
        _wait(lambda: ledger.status()["deliveries"].get("delivered", 0) == total, 600, "every delivery")
        return total / (time.perf_counter() - started)
    finally:
        ledger.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def bench_scale_out(leads: int) -> Table:
    """The table: leads/s for SQLite (1 worker) and PostgreSQL (1 and 2 workers), measured in this run."""
    table = Table(
        f"Relay through Celery workers ({leads:,} leads, one receiver, 2 threads per worker)",
        ["ledger", "workers", "leads/s"],
    )
    tmp = Path(tempfile.mkdtemp(prefix="msgrelay-bench-scale-"))
    tmp.chmod(0o755)
    try:
        pg = servers.Postgres.start(tmp / "pg")
        redis = servers.Redis.start(tmp / "redis")
    except servers.UnavailableError as exc:
        table.rows.append(["skipped", "-", f"`{exc}`"])
        return table
    try:
        with Sandbox(seconds_per_message=0.0, credits=10_000_000, webhook_delivery=False) as sandbox:
            configs = [("SQLite", f"sqlite:///{tmp / 'sqlite' / 'ledger.sqlite3'}", 1)]
            for workers in (1, 2):
                schema = f"bench_{workers}"
                with psycopg.connect(pg.url, autocommit=True) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}".encode())
                configs.append(("PostgreSQL", f"{pg.url}?options=-csearch_path%3D{schema}", workers))
            for name, url, workers in configs:
                rate = one_config(url, workers, leads, redis, sandbox, tmp / f"{name}-{workers}")
                table.rows.append([name, str(workers), f"{rate:,.0f}"])
    finally:
        redis.stop()
        pg.stop()
    table.notes.append(
        "From the first webhook until the ledger records every lead delivered to the built-in store (in the "
        "ledger's database); the sandbox answers at once. PostgreSQL runs with fsync off (a throwaway "
        "cluster), SQLite with `synchronous=FULL`; both on the same machine as the workers."
    )
    return table
