"""Where a client sends its requests, and with which key: the explicit argument, else the environment.

Errors say how to fix the setting and where the value came from, with every secret redacted.
"""

from __future__ import annotations

from msgrelay.config import read_env
from msgrelay.errors import ConfigurationError
from msgrelay.transport.redact import redact_url

__all__ = ["resolve_api_key", "resolve_base_url"]


def resolve_api_key(explicit: str | None, env_name: str, *, service: str) -> str:
    """The explicit key, else the environment's; a `ConfigurationError` that says how to fix it."""
    # A blank argument counts as none given (Zapier sends "" for an empty field), as for base URLs.
    key = explicit if explicit and explicit.strip() else read_env(env_name)
    if not key or not key.strip():
        raise ConfigurationError(
            f"no {service} API key: pass api_key=... (on the command line, --api-key) "
            f"or set the {env_name} environment variable"
        )
    return key.strip()


def resolve_base_url(explicit: str | None, env_name: str, default: str) -> str:
    """The explicit base URL, else the environment's, else the vendor's; must be http(s)."""
    url = explicit or read_env(env_name) or default
    if not url.startswith(("http://", "https://")):
        source = "the base_url argument" if explicit else env_name
        raise ConfigurationError(
            f"base URL must start with http:// or https://, got {redact_url(url)!r} (from {source})"
        )
    return url.rstrip("/")
