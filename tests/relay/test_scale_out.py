"""Past one machine, for real: 2 receivers and 3 Celery workers on one PostgreSQL and one Redis.

100 generations of 100 leads go to two destinations, the built-in ``store`` (in PostgreSQL, dropping
a repeated key) and ``tally`` (a plugin that appends one line per ``deliver`` call). Every completion
webhook is sent twice, to alternating receivers; one worker is SIGKILLed while it delivers and another
is started in its place. Afterwards every (destination, lead) is delivered, none is lost, the store
holds each key exactly once, and no key was handed to ``tally`` more than twice.
"""

from __future__ import annotations

import collections
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from msgrelay.ledger import delivery_key, open_ledger
from msgrelay.relay import submit_once
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale import UpscaleClient
from tests import servers
from tests.helpers import make_distribution, wait_until

GENERATIONS = 100
LEADS = 100
SECRET = "scale-out-secret"
TALLY = """
import os
from msgrelay import hookimpl

def deliver(delivery):
    line = f"{os.getpid()} {delivery.key}\\n".encode()
    fd = os.open(os.environ["TALLY_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)  # one small O_APPEND write: whole lines, whatever the other processes do
    finally:
        os.close(fd)

@hookimpl
def register_destinations(register):
    register("tally", deliver)
"""


class Fleet:
    """The receivers' and workers' processes, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("msgrelay")), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The vendor, with credits for every generation; the test sends the webhooks itself."""
    with Sandbox(seconds_per_message=0.0005, credits=10_000_000, webhook_delivery=False) as running:
        yield running


@pytest.fixture
def fleet(
    tmp_path: Path, postgres_url: str, redis_server: servers.Redis, sandbox: Sandbox
) -> Iterator[Fleet]:
    plugin = make_distribution(
        tmp_path / "plugin", "msgrelay-tally", {"tally_plugin": TALLY}, {"tally": "tally_plugin"}
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "MSGRELAY_HOME": str(tmp_path / "home"),
        "MSGRELAY_LEDGER_URL": postgres_url,
        "MSGRELAY_BROKER_URL": redis_server.url,
        "MSGRELAY_DESTINATIONS": "store,tally",
        "MSGRELAY_WEBHOOK_SECRET": SECRET,
        "UPSCALE_API_KEY": sandbox.upscale_api_key,
        "UPSCALE_BASE_URL": sandbox.upscale_url,
        "TALLY_FILE": str(tmp_path / "tally.log"),
    }
    redis_server.flush()
    running = Fleet(env, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _tally(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(int(pid), key) for pid, key in (line.split() for line in path.read_text().splitlines())]


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_receivers_and_three_workers_lose_nothing_and_repeat_at_most_once(
    fleet: Fleet, postgres_url: str, sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10,000 leads to 2 destinations through 2 receivers and 3 workers, one killed mid-delivery."""
    started = time.monotonic()
    ports = [servers.free_port(), servers.free_port()]
    for i, port in enumerate(ports):
        fleet.start(f"serve{i}", "serve", "--port", str(port), "--threads", "4")
    workers = [
        fleet.start("worker0", "worker", "--concurrency", "2", "--beat", "--batch-size", "100"),
        fleet.start("worker1", "worker", "--concurrency", "2", "--batch-size", "100"),
        fleet.start("worker2", "worker", "--concurrency", "2", "--batch-size", "100"),
    ]
    receivers = [f"http://127.0.0.1:{port}" for port in ports]
    for url in receivers:
        wait_until(functools.partial(_healthy, url), timeout=60, what=f"receiver {url}")

    ledger = open_ledger(postgres_url)
    client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)
    sids: list[str] = []
    try:
        for g in range(GENERATIONS):
            ticket = submit_once(client, make_request(LEADS, prefix=f"g{g}-lead"), ledger=ledger)
            sids.append(ticket.secure_request_id)
        for g, sid in enumerate(sids):
            event = sandbox.upscale.completion_event(sid)
            for n in range(2):  # every webhook twice, to alternating receivers
                answer = requests.post(
                    f"{receivers[(g + n) % 2]}/webhooks/upscale",
                    json=event,
                    params={"token": SECRET},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text
    finally:
        client.close()

    tally_file = tmp_path / "tally.log"
    victim = workers[1]
    # Killed while it delivers: once it has made some deliveries and most are still to come.
    wait_until(
        lambda: sum(1 for pid, _ in _tally(tally_file) if pid == victim.pid) >= 20,
        timeout=300,
        what="the second worker delivering",
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    killed_at = len(_tally(tally_file))
    fleet.start("worker1-again", "worker", "--concurrency", "2", "--batch-size", "100")

    expected = {
        dest: {
            delivery_key(dest, "upscale", sid, f"g{g}-lead-{i}")
            for g, sid in enumerate(sids)
            for i in range(LEADS)
        }
        for dest in ("store", "tally")
    }

    def all_delivered() -> bool:
        counts = ledger.status()["deliveries"]
        return counts.get("delivered", 0) == 2 * GENERATIONS * LEADS and len(counts) == 1

    try:
        wait_until(all_delivered, timeout=900, what="every delivery recorded")
        status = ledger.status()
        batches = [ledger.get_batch("upscale", sid) for sid in sids]
    finally:
        ledger.close()
    assert status["batches"] == {"fanned_out": GENERATIONS}
    assert {b["received"] for b in batches if b} == {2}

    with psycopg.connect(postgres_url) as conn:
        stored = [key for (key,) in conn.execute("SELECT key FROM store_deliveries")]
    assert len(stored) == len(set(stored)) == GENERATIONS * LEADS
    assert set(stored) == expected["store"]

    calls = collections.Counter(key for _, key in _tally(tally_file))
    assert set(calls) == expected["tally"]
    assert max(calls.values()) <= 2
    repeated = sum(1 for n in calls.values() if n == 2)
    elapsed = time.monotonic() - started
    note = (
        f"scale-out: {GENERATIONS * LEADS} leads x 2 destinations in {elapsed:.0f} s; worker killed after "
        f"{killed_at} tally calls; {repeated} of {len(calls)} tally keys needed a second deliver call"
    )
    with capsys.disabled():
        print(f"\n{note}")
