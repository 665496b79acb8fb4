"""``msgrelay sandbox`` and ``msgrelay serve`` stop cleanly on SIGTERM, as on Ctrl+C: exit 0, "stopped" line.

Each runs as a real process on 127.0.0.1 port 0. The waits are bounds that keep a regression from hanging
the suite, not assertions on how long anything takes.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgrelay.cli._common import say, sigterm_as_interrupt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be handled on Windows")

BOUND = 60.0


def _get(url: str, path: str) -> int:
    """The status of GET ``path`` on ``http://127.0.0.1:PORT`` (no proxy is consulted)."""
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", url)
    assert match, url
    connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=BOUND)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=BOUND)
    return proc.returncode, out, err


def test_sandbox_stops_cleanly_on_sigterm(started: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "msgrelay", "sandbox", "--port", "0", "--no-webhooks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MSGRELAY_HOME": str(tmp_path / "home")},
    )
    started.append(proc)
    assert proc.stdout is not None
    info: dict[str, Any] = json.loads(proc.stdout.readline())
    assert info["url"].startswith("http://127.0.0.1:")
    code, _, err = _stop(proc)
    assert code == 0, err
    assert err.splitlines()[-1] == "msgrelay sandbox: stopped"


def test_serve_stops_cleanly_on_sigterm(started: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MSGRELAY_HOME": str(tmp_path / "home"),
        "MSGRELAY_WEBHOOK_SECRET": "whsec-signal-test",
        "MSGRELAY_DESTINATIONS": "store",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "msgrelay", "serve", "--port", "0", "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    started.append(proc)
    assert proc.stderr is not None
    lines: list[str] = []
    while not (lines and "receiving on" in lines[-1]):
        line = proc.stderr.readline()
        assert line, f"serve ended before listening: {''.join(lines)}"
        lines.append(line)
    match = re.search(r"receiving on (http://127\.0\.0\.1:\d+)/webhooks/upscale", lines[-1])
    assert match, lines[-1]
    assert _get(match.group(1), "/healthz") == 200
    code, _, err = _stop(proc)
    assert code == 0, "".join(lines) + err
    assert err.splitlines()[-1] == "msgrelay: stopping"


def test_the_first_sigterm_interrupts_and_a_second_acts_as_before() -> None:
    """In process: KeyboardInterrupt once, then the previous handler; restored on the way out."""
    seen: list[int] = []

    def previous(signum: int, frame: object) -> None:
        seen.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with sigterm_as_interrupt():
            # raise_signal runs the Python handler before it returns.
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)


def test_sigterm_is_left_alone_outside_the_main_thread() -> None:
    """A host calling `main` from a worker thread cannot install handlers; nothing is changed."""
    before = signal.getsignal(signal.SIGTERM)
    errors: list[BaseException] = []

    def body() -> None:
        try:
            with sigterm_as_interrupt():
                pass
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(BOUND)
    assert errors == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_status_line_is_one_write_so_a_signal_cannot_split_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's and the sandbox's status lines go out in one write, newline included: a SIGTERM raised
    as KeyboardInterrupt between two writes (print makes two) glued "msgrelay: stopping" to the
    console line in one of three runs under load."""
    writes: list[str] = []

    class Recording(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    monkeypatch.setattr(sys, "stderr", Recording())
    say("msgrelay: console http://127.0.0.1:1/")
    assert writes == ["msgrelay: console http://127.0.0.1:1/\n"]
