"""Environment variable names and default constants, read in one place.

An explicit argument always beats the environment; `read_env` is the only function that looks at
`os.environ`, so a host can pass its own mapping (or an empty one) instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "COLLECT_API_KEY",
    "COLLECT_BASE_URL",
    "DEFAULT_COLLECT_BASE_URL",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_UPSCALE_BASE_URL",
    "ENV_PREFIXES",
    "MSGRELAY_API_TOKEN",
    "MSGRELAY_BROKER_URL",
    "MSGRELAY_CONFIG",
    "MSGRELAY_DESTINATIONS",
    "MSGRELAY_DISABLE_PLUGINS",
    "MSGRELAY_HOME",
    "MSGRELAY_LEDGER_BUSY_TIMEOUT",
    "MSGRELAY_LEDGER_URL",
    "MSGRELAY_LOAD_PLUGINS",
    "MSGRELAY_POLL_AFTER",
    "MSGRELAY_POLL_GIVE_UP",
    "MSGRELAY_RATE_LIMITS",
    "MSGRELAY_RETENTION_DAYS",
    "MSGRELAY_STRICT_PLUGINS",
    "MSGRELAY_TRACE_PLUGINS",
    "MSGRELAY_WEBHOOK_SECRET",
    "UPSCALE_API_KEY",
    "UPSCALE_BASE_URL",
    "env_flag",
    "env_list",
    "msgrelay_home",
    "read_env",
]

UPSCALE_API_KEY = "UPSCALE_API_KEY"
UPSCALE_BASE_URL = "UPSCALE_BASE_URL"
COLLECT_API_KEY = "COLLECT_API_KEY"
COLLECT_BASE_URL = "COLLECT_BASE_URL"
MSGRELAY_HOME = "MSGRELAY_HOME"
MSGRELAY_LOAD_PLUGINS = "MSGRELAY_LOAD_PLUGINS"
MSGRELAY_DISABLE_PLUGINS = "MSGRELAY_DISABLE_PLUGINS"
MSGRELAY_STRICT_PLUGINS = "MSGRELAY_STRICT_PLUGINS"
MSGRELAY_TRACE_PLUGINS = "MSGRELAY_TRACE_PLUGINS"
MSGRELAY_DESTINATIONS = "MSGRELAY_DESTINATIONS"
#: The config file of destination instances and routes (TOML; ``--config`` on the command line beats it).
MSGRELAY_CONFIG = "MSGRELAY_CONFIG"
MSGRELAY_WEBHOOK_SECRET = "MSGRELAY_WEBHOOK_SECRET"
#: Which ledger: ``sqlite:///PATH`` (default, under ``MSGRELAY_HOME``) or ``postgresql://...``.
MSGRELAY_LEDGER_URL = "MSGRELAY_LEDGER_URL"
#: Seconds the SQLite ledger waits for another process's write lock before failing (default 30).
MSGRELAY_LEDGER_BUSY_TIMEOUT = "MSGRELAY_LEDGER_BUSY_TIMEOUT"
#: The Celery broker (``redis://...``); when set, ``serve`` enqueues and ``msgrelay worker`` relays.
MSGRELAY_BROKER_URL = "MSGRELAY_BROKER_URL"
#: Per-destination Celery rate limits of delivery rounds: ``hubspot=10/m,lemlist=1/s``.
MSGRELAY_RATE_LIMITS = "MSGRELAY_RATE_LIMITS"
#: The bearer token of ``serve``'s steps API and operator console; unset turns both off.
MSGRELAY_API_TOKEN = "MSGRELAY_API_TOKEN"
#: Seconds after a submission before its first poll, when no completion webhook has come (default 900).
MSGRELAY_POLL_AFTER = "MSGRELAY_POLL_AFTER"
#: Seconds after a submission before polling gives up and dead-letters it (default 172800, two days).
MSGRELAY_POLL_GIVE_UP = "MSGRELAY_POLL_GIVE_UP"

#: Days after which ``serve`` prunes delivered ledger rows and stored deliveries; unset keeps all.
MSGRELAY_RETENTION_DAYS = "MSGRELAY_RETENTION_DAYS"

#: Every variable msgrelay reads starts with one of these (tests clear them all).
ENV_PREFIXES = ("UPSCALE_", "COLLECT_", "MSGRELAY_")

DEFAULT_UPSCALE_BASE_URL = "https://app.upscaleoutreach.com/api/v2"
DEFAULT_COLLECT_BASE_URL = "https://api.usecollect.com/v1"

#: Seconds to wait for a TCP connection, then for each read of the answer.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


def read_env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the variable's value, or None when it is unset or blank."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def msgrelay_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where the ledger and the default store live: ``$MSGRELAY_HOME`` or ``~/.msgrelay``."""
    configured = read_env(MSGRELAY_HOME, environ)
    return Path(configured).expanduser() if configured else Path.home() / ".msgrelay"


def env_list(name: str, environ: Mapping[str, str] | None = None) -> list[str] | None:
    """A comma list from the environment; None when unset, [] when set but empty."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True for 1/true/yes/on (any case)."""
    return (read_env(name, environ) or "").lower() in {"1", "true", "yes", "on"}
