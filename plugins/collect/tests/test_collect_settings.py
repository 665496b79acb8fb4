"""Settings from the environment and from a route instance's table: defaults, errors naming the
setting, and the key never shown."""

from __future__ import annotations

import pytest
from msgrelay_collect import CollectSettings

from msgrelay.config import DEFAULT_COLLECT_BASE_URL
from msgrelay.errors import ConfigurationError

KEY = "live-collect-key-5f4e3d2c1b0a"


def test_defaults_from_a_key_alone() -> None:
    """With only ``COLLECT_API_KEY``: internal notes, Collect's own URL, an hour's delay, no request."""
    settings = CollectSettings.from_env({"COLLECT_API_KEY": KEY})
    assert (settings.channel, settings.base_url, settings.send_after, settings.request_id) == (
        "internal",
        DEFAULT_COLLECT_BASE_URL,
        3600.0,
        None,
    )


def test_every_variable_is_read() -> None:
    """Each ``MSGRELAY_COLLECT_*`` variable lands in its setting (the channel in any case)."""
    settings = CollectSettings.from_env(
        {
            "COLLECT_API_KEY": KEY,
            "COLLECT_BASE_URL": "http://127.0.0.1:9/collect/v1/",
            "MSGRELAY_COLLECT_REQUEST_ID": "NxAHPWu9hRzcyD24m",
            "MSGRELAY_COLLECT_CHANNEL": "SMS",
            "MSGRELAY_COLLECT_SEND_AFTER": "60",
            "MSGRELAY_COLLECT_TITLE": "Outreach drafts",
            "MSGRELAY_COLLECT_TIMEOUT": "2.5",
        }
    )
    assert settings.base_url == "http://127.0.0.1:9/collect/v1"
    assert (settings.request_id, settings.channel, settings.send_after) == ("NxAHPWu9hRzcyD24m", "sms", 60.0)
    assert (settings.title, settings.timeout.read, settings.timeout.connect) == ("Outreach drafts", 2.5, 2.5)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "COLLECT_API_KEY"),
        ({"MSGRELAY_COLLECT_CHANNEL": "fax"}, "MSGRELAY_COLLECT_CHANNEL"),
        ({"MSGRELAY_COLLECT_SEND_AFTER": "soon"}, "MSGRELAY_COLLECT_SEND_AFTER"),
        ({"MSGRELAY_COLLECT_SEND_AFTER": "-5"}, "MSGRELAY_COLLECT_SEND_AFTER"),
        ({"MSGRELAY_COLLECT_SEND_AFTER": "nan"}, "MSGRELAY_COLLECT_SEND_AFTER"),
        ({"MSGRELAY_COLLECT_TIMEOUT": "0"}, "MSGRELAY_COLLECT_TIMEOUT"),
        ({"COLLECT_BASE_URL": "ftp://collect.example"}, "COLLECT_BASE_URL"),
        ({"MSGRELAY_COLLECT_CHANNEL": "email", "MSGRELAY_COLLECT_TITLE": "Hi"}, "MSGRELAY_COLLECT_TITLE"),
    ],
)
def test_a_bad_setting_names_its_variable(environ: dict[str, str], named: str) -> None:
    """Every missing or malformed setting is one `ConfigurationError` naming the variable, never the key."""
    base = {"COLLECT_API_KEY": KEY} if named != "COLLECT_API_KEY" else {}
    with pytest.raises(ConfigurationError) as caught:
        CollectSettings.from_env({**base, **environ})
    assert named in str(caught.value)
    assert KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_route_table_names_its_keys() -> None:
    """From a route instance: the key resolved from ``api_key_env``; errors say ``where.key``."""
    settings = CollectSettings.from_mapping(
        {
            "type": "collect",
            "api_key_env": "ACME_COLLECT_KEY",
            "request_id": "NxAHPWu9hRzcyD24m",
            "send_after": 0,
        },
        where="destinations.acme-notes",
        environ={"ACME_COLLECT_KEY": KEY},
    )
    assert (settings.api_key, settings.request_id, settings.send_after) == (KEY, "NxAHPWu9hRzcyD24m", 0.0)
    assert settings.source("api_key") == "ACME_COLLECT_KEY (named by destinations.acme-notes.api_key_env)"
    with pytest.raises(ConfigurationError, match=r"destinations\.acme-notes\.channel must be one of"):
        CollectSettings.from_mapping({"api_key": KEY, "channel": "fax"}, where="destinations.acme-notes")
    with pytest.raises(ConfigurationError, match=r"destinations\.acme-notes: unknown setting chanel"):
        CollectSettings.from_mapping({"api_key": KEY, "chanel": "sms"}, where="destinations.acme-notes")
    with pytest.raises(ConfigurationError, match=r"no Collect API key: set ACME_COLLECT_KEY \(named by"):
        CollectSettings.from_mapping(
            {"api_key_env": "ACME_COLLECT_KEY"}, where="destinations.acme-notes", environ={}
        )


def test_the_key_never_shows() -> None:
    """Neither repr nor str of the settings holds the key."""
    settings = CollectSettings(api_key=KEY, request_id="NxAHPWu9hRzcyD24m")
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert "REDACTED" in repr(settings)
