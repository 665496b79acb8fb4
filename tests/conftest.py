"""Shared fixtures: an isolated environment for every test, the sandbox, and cassette targets.

Cassette tests replay with record mode ``none`` (the default). To re-record from the sandbox run
``pytest --record-mode=rewrite tests/upscale``; with ``UPSCALE_API_KEY`` / ``COLLECT_API_KEY`` set, the
same tests record against the live APIs instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from msgrelay.config import DEFAULT_COLLECT_BASE_URL, DEFAULT_UPSCALE_BASE_URL
from msgrelay.sandbox import SANDBOX_COLLECT_KEY, SANDBOX_UPSCALE_KEY, Sandbox
from msgrelay.testing import cassettes
from tests import servers

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"

#: Live keys are read once, before the autouse fixture clears the environment for each test.
LIVE_KEYS = {
    "upscale": os.environ.get("UPSCALE_API_KEY", ""),
    "collect": os.environ.get("COLLECT_API_KEY", ""),
}
#: Every secret a cassette must never hold.
KNOWN_SECRETS = (SANDBOX_UPSCALE_KEY, SANDBOX_COLLECT_KEY, *(k for k in LIVE_KEYS.values() if k))
REPLAY_KEY = "replay-key-not-a-secret"


@pytest.fixture(autouse=True)
def _isolated_env(msgrelay_home: Path) -> None:
    """No test sees the developer's keys, base URLs, plugins or home directory (see msgrelay.testing)."""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Both emulated APIs on 127.0.0.1, on a port the OS picks."""
    with Sandbox(seconds_per_message=0.001) as running:
        yield running


@pytest.fixture
def cassette_rewriter() -> cassettes.BaseRewriter:
    return cassettes.BaseRewriter()


@pytest.fixture
def vcr_config(cassette_rewriter: cassettes.BaseRewriter) -> dict[str, Any]:
    return cassettes.vcr_config(cassette_rewriter, KNOWN_SECRETS)


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``cassettes/<api>/<test module>/``: tests/upscale/test_client.py → cassettes/upscale/test_client."""
    module = Path(str(request.node.path))
    return str(CASSETTES / module.parent.name / module.stem)


@attrs.frozen
class Target:
    """Where a cassette test sends its requests, and with which key."""

    base_url: str
    api_key: str
    recording: bool
    sandbox: Sandbox | None = None


def _target(api: str, request: pytest.FixtureRequest, rewriter: cassettes.BaseRewriter) -> Iterator[Target]:
    recording = (request.config.getoption("--record-mode") or "none") != "none"
    if not recording:
        # Replays never connect; a port nothing listens on makes any leak fail loudly, on loopback.
        base = "http://127.0.0.1:9" + ("/upscale/api/v2" if api == "upscale" else "/collect/v1")
        rewriter.register(base, api)
        yield Target(base, REPLAY_KEY, recording=False)
        return
    if LIVE_KEYS[api]:
        base = DEFAULT_UPSCALE_BASE_URL if api == "upscale" else DEFAULT_COLLECT_BASE_URL
        rewriter.register(base, api)
        yield Target(base, LIVE_KEYS[api], recording=True)
        return
    # Slow enough that a recorded wait shows 202 (partial) before 200.
    with Sandbox(seconds_per_message=0.05, webhook_delivery=False) as running:
        base = running.upscale_url if api == "upscale" else running.collect_url
        key = running.upscale_api_key if api == "upscale" else running.collect_api_key
        rewriter.register(base, api)
        yield Target(base, key, recording=True, sandbox=running)


@pytest.fixture
def upscale_target(
    request: pytest.FixtureRequest, cassette_rewriter: cassettes.BaseRewriter
) -> Iterator[Target]:
    """The Upscale API for a cassette test: a replay, the sandbox, or the live API."""
    yield from _target("upscale", request, cassette_rewriter)


@pytest.fixture
def collect_target(
    request: pytest.FixtureRequest, cassette_rewriter: cassettes.BaseRewriter
) -> Iterator[Target]:
    """The Collect API for a cassette test: a replay, the sandbox, or the live API."""
    yield from _target("collect", request, cassette_rewriter)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Selenium, kept to loopback.

    Debian's ``chromium`` and ``chromium-driver`` come from ``scripts/install-test-deps`` (run by
    ``make test``). Missing, the test is skipped on a workstation but fails under ``CI=true``: CI must
    never pass by not running the browser.
    """
    from tests.browser import chrome

    with chrome() as driver:
        yield driver


# --- real servers: PostgreSQL (the shared ledger) and Redis (the Celery broker) --------------------


def _unavailable(request: pytest.FixtureRequest, what: str, error: Exception) -> None:
    """Under CI a missing server fails the tests that need it; elsewhere they skip with one loud line."""
    message = f"{what} UNAVAILABLE, ITS TESTS DO NOT RUN: {error} (run scripts/install-test-deps as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"!!! {message}", red=True, bold=True)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[servers.Postgres]:
    """A PostgreSQL cluster on 127.0.0.1 for the whole session, in a temporary folder, stopped after."""
    # Not under pytest's tmp_path: its parents are root's own (0700) and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="msgrelay-pg-"))
    root.chmod(0o755)  # the server's own user must reach its folder inside
    try:
        server = servers.Postgres.start(root / "cluster")
    except servers.UnavailableError as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(request, "POSTGRESQL", exc)
        raise
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Redis]:
    """A Redis server on 127.0.0.1 for the whole session, stopped after."""
    try:
        server = servers.Redis.start(tmp_path_factory.mktemp("redis"))
    except servers.UnavailableError as exc:
        _unavailable(request, "REDIS", exc)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: servers.Postgres) -> Iterator[str]:
    """A ``postgresql://`` URL of an empty schema of its own for this test, dropped after."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{postgres_server.url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty ledger on each backend: an SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))
