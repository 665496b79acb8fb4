"""``msgrelay relay`` with a destination that never answers: the run ends, and releases what is in flight."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from msgrelay.ledger import SQLiteLedger
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale.client import UpscaleClient

SLOW = """
[destinations.slow]
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
allow_insecure = true
timeout = 300
concurrency = 2
deliver_timeout = 0.5
"""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose connections the kernel accepts (the listen backlog) and nothing answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


def test_a_relay_whose_calls_outlast_their_timeout_releases_them_at_exit_and_exits_1(
    sandbox: Sandbox, silent_port: int, tmp_path: Path
) -> None:
    """The webhook's requests would wait 300 s for an answer; the relay waits a few seconds at exit, then
    records the deliveries still in flight as retryable failures, says so on stderr and exits 1. That the
    process ends at all (within a bound far below the request deadline) proves it did not wait for them."""
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client:
        sid = client.request_generation(make_request(3)).secure_request_id
        client.wait_for_completion(sid, initial_interval=0.01)
    config = tmp_path / "slow.toml"
    config.write_text(SLOW.format(port=silent_port))
    env = {
        **os.environ,
        "UPSCALE_API_KEY": sandbox.upscale_api_key,
        "UPSCALE_BASE_URL": sandbox.upscale_url,
        "MSGRELAY_LOAD_PLUGINS": "webhook",
    }
    argv = ["relay", sid, "--to", "slow", "--config", str(config), "--max-wait", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "msgrelay", *argv], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert (
        "msgrelay: 3 deliveries still running at exit were released for retry; their destination may"
        " receive them twice, with the same delivery key" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert orjson.loads(done.stdout)["delivered"] == 0
    ledger = SQLiteLedger()
    try:
        assert ledger.batch_counts("upscale", sid) == {"pending": 3}
        with closing(sqlite3.connect(ledger.path)) as conn:
            errors = {e for (e,) in conn.execute("SELECT last_error FROM outbox")}
        assert errors == {
            "DeliveryTimeoutError: timed out after 0.5 s; the call was still running: still running"
            " when the relay exited"
        }
    finally:
        ledger.close()
