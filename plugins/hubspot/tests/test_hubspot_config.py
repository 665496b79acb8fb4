"""Settings: from the environment or a route's table, errors naming the setting, the token hidden."""

from __future__ import annotations

import pytest
from msgrelay_hubspot import EnvironmentHubSpot, HubSpotDestination, HubSpotSettings

from msgrelay.errors import ConfigurationError

TOKEN = "pat-na1-11111111-2222-secret-token"


def test_everything_from_the_environment() -> None:
    """Each ``MSGRELAY_HUBSPOT_*`` variable sets its setting; the defaults are HubSpot's."""
    defaults = HubSpotSettings.from_env({"MSGRELAY_HUBSPOT_TOKEN": TOKEN})
    assert (defaults.base_url, defaults.api_version, defaults.id_property, defaults.property_prefix) == (
        "https://api.hubapi.com",
        "v3",
        "email",
        "msgrelay_",
    )
    assert not defaults.create_properties
    assert not defaults.notes
    settings = HubSpotSettings.from_env(
        {
            "MSGRELAY_HUBSPOT_TOKEN": TOKEN,
            "MSGRELAY_HUBSPOT_BASE_URL": "https://eu1.api.example.com/",
            "MSGRELAY_HUBSPOT_API_VERSION": "2026-03",
            "MSGRELAY_HUBSPOT_ID_PROPERTY": "crm_id",
            "MSGRELAY_HUBSPOT_PROPERTY_PREFIX": "upscale_",
            "MSGRELAY_HUBSPOT_CREATE_PROPERTIES": "1",
            "MSGRELAY_HUBSPOT_NOTES": "yes",
        }
    )
    assert settings.base_url == "https://eu1.api.example.com"
    assert (settings.api_version, settings.id_property, settings.property_prefix) == (
        "2026-03",
        "crm_id",
        "upscale_",
    )
    assert settings.create_properties
    assert settings.notes


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("TOKEN", "", "MSGRELAY_HUBSPOT_TOKEN"),
        ("API_VERSION", "v4", "MSGRELAY_HUBSPOT_API_VERSION"),
        ("API_VERSION", "2026-13", "MSGRELAY_HUBSPOT_API_VERSION"),
        ("BASE_URL", "api.hubapi.com", "MSGRELAY_HUBSPOT_BASE_URL"),
        ("ID_PROPERTY", "E-mail", "MSGRELAY_HUBSPOT_ID_PROPERTY"),
        ("PROPERTY_PREFIX", "9x_", "MSGRELAY_HUBSPOT_PROPERTY_PREFIX"),
        ("NOTES", "maybe", "MSGRELAY_HUBSPOT_NOTES"),
        ("TIMEOUT", "soon", "MSGRELAY_HUBSPOT_TIMEOUT"),
    ],
)
def test_bad_setting_names_the_variable(name: str, value: str, match: str) -> None:
    """A missing or malformed setting is one error naming its variable, never the token."""
    env = {"MSGRELAY_HUBSPOT_TOKEN": TOKEN, f"MSGRELAY_HUBSPOT_{name}": value}
    with pytest.raises(ConfigurationError, match=match) as caught:
        HubSpotSettings.from_env(env)
    assert TOKEN not in str(caught.value)


def test_route_instance_settings_name_the_instance() -> None:
    """A route's table uses the variables' suffixes; an error names the instance and the key."""
    settings = HubSpotSettings.from_mapping(
        {"token": TOKEN, "api_version": "2026-03", "notes": True}, where='destination "crm-eu"'
    )
    assert settings.api_version == "2026-03"
    assert settings.notes
    with pytest.raises(ConfigurationError, match='destination "crm-eu": api_version'):
        HubSpotSettings.from_mapping({"token": TOKEN, "api_version": "v9"}, where='destination "crm-eu"')
    with pytest.raises(ConfigurationError, match="unknown HubSpot setting 'tokn'"):
        HubSpotSettings.from_mapping({"tokn": TOKEN}, where='destination "crm-eu"')


def test_reprs_hide_the_token() -> None:
    """Settings, destination and plugin reprs never show the token."""
    env = {"MSGRELAY_HUBSPOT_TOKEN": TOKEN}
    settings = HubSpotSettings.from_env(env)
    plugin = EnvironmentHubSpot(env)
    with HubSpotDestination(settings) as destination:
        plugin.destination()
        shown = " ".join(
            [repr(settings), str(settings), repr(destination), repr(destination.client), repr(plugin)]
        )
        shown += repr(vars(destination.client.transport.session))
    plugin.close()
    assert "secret-token" not in shown
