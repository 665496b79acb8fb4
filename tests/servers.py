"""Real PostgreSQL and Redis servers for the suite, on 127.0.0.1, free ports, temporary data folders.

`scripts/install-test-deps` (run by ``make test``) installs Debian's ``postgresql`` and ``redis-server``
when it can. A server that cannot be found or started is `UnavailableError`: the fixtures in ``conftest.py``
turn that into a failure under ``CI=true`` and into a loud skip elsewhere.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

#: The OS user that owns a PostgreSQL data folder when the suite runs as root (initdb refuses root).
PG_USER_CANDIDATES = ("postgres", "nobody")


class UnavailableError(Exception):
    """A server the tests need is not installed or would not start."""


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(
    check: object, *, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if callable(check) and check():
            return
        if proc is not None and proc.poll() is not None:
            raise UnavailableError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise UnavailableError(f"{what} did not start within {timeout} s")
        time.sleep(0.05)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise UnavailableError("PostgreSQL is not installed (Debian: apt-get install postgresql)")


@attrs.define
class Postgres:
    """A PostgreSQL cluster of the suite's own; `url` reaches its ``msgrelay`` database as ``msgrelay``."""

    folder: Path
    port: int
    bin: Path
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql://msgrelay@127.0.0.1:{self.port}/msgrelay"

    def _cmd(self, args: Sequence[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    @classmethod
    def start(cls, root: Path) -> Postgres:
        """initdb a cluster under ``root`` and start it; raises `UnavailableError` when it cannot."""
        bin_dir = _pg_bin()
        run_as = None
        if os.geteuid() == 0:
            run_as = next((u for u in PG_USER_CANDIDATES if _user_exists(u)), None)
            if run_as is None or shutil.which("runuser") is None:
                raise UnavailableError(
                    "running as root needs a non-root user (postgres) and runuser for initdb"
                )
        root.mkdir(parents=True, exist_ok=True)
        data, sockets = root / "data", root / "sockets"
        sockets.mkdir(exist_ok=True)
        if run_as:
            user = pwd.getpwnam(run_as)
            for path in (root, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        server = cls(folder=root, port=free_port(), bin=bin_dir, run_as=run_as)
        server._run([str(bin_dir / "initdb"), "-D", str(data), "-U", "msgrelay", "-A", "trust", "-E", "UTF8",
                     "--no-sync", "--no-instructions"])  # fmt: skip
        # fsync off: a test cluster thrown away at the end needs no durability, and the suite runs faster.
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -k {sockets} -F -c max_connections=300"
            " -c shared_buffers=64MB"
        )
        server._run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options,
                     "-w", "-t", "60", "start"])  # fmt: skip
        server._run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "msgrelay",
                     "msgrelay"])  # fmt: skip
        return server

    def _run(self, args: Sequence[str]) -> None:
        done = subprocess.run(self._cmd(args), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise UnavailableError(
                f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-400:]}"
            )

    def stop(self) -> None:
        subprocess.run(
            self._cmd([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@attrs.define
class Redis:
    """A Redis server of the suite's own, without persistence."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, root: Path) -> Redis:
        """Start ``redis-server`` on a free port; raises `UnavailableError` when it cannot."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise UnavailableError("redis-server is not installed (Debian: apt-get install redis-server)")
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server = cls(process, port)
        _wait_for(server.ping, timeout=30, what="redis-server", proc=process)
        return server

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        """Empty every database (queues left by an earlier test)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            if not s.recv(16).startswith(b"+OK"):
                raise UnavailableError("redis FLUSHALL failed")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
