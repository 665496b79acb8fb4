"""Settings from the environment or a route instance's mapping; the lead mapping and its checks."""

from __future__ import annotations

import pytest
from msgrelay_lemlist import LemlistSettings, canonical_linkedin, lead_body, variable_name

from msgrelay.errors import ConfigurationError, ValidationError
from msgrelay.upscale import Lead

KEY = "live-key-0f3e9d8c7b6a5"
ENV = {"MSGRELAY_LEMLIST_API_KEY": KEY, "MSGRELAY_LEMLIST_CAMPAIGN_ID": "cam_Q4x9"}


def test_from_env_defaults() -> None:
    """Key and campaign are enough; the base URL defaults to lemlist's, running is not allowed."""
    settings = LemlistSettings.from_env(ENV)
    assert settings.base_url == "https://api.lemlist.com/api"
    assert settings.allow_running is False
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MSGRELAY_LEMLIST_CAMPAIGN_ID": "cam_Q4x9"}, "MSGRELAY_LEMLIST_API_KEY"),
        ({"MSGRELAY_LEMLIST_API_KEY": KEY}, "MSGRELAY_LEMLIST_CAMPAIGN_ID"),
        ({**ENV, "MSGRELAY_LEMLIST_ALLOW_RUNNING": "perhaps"}, "MSGRELAY_LEMLIST_ALLOW_RUNNING"),
        ({**ENV, "MSGRELAY_LEMLIST_BASE_URL": "http://api.lemlist.com/api"}, "MSGRELAY_LEMLIST_BASE_URL"),
        ({**ENV, "MSGRELAY_LEMLIST_BASE_URL": "ftp://x"}, "MSGRELAY_LEMLIST_BASE_URL"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    """Each missing or malformed variable is one line naming it, never the key."""
    with pytest.raises(ConfigurationError) as caught:
        LemlistSettings.from_env(env)
    assert named in str(caught.value)
    assert KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_from_mapping_names_the_instance() -> None:
    """A route instance's settings use the variable suffixes; errors name the instance's setting."""
    settings = LemlistSettings.from_mapping(
        {"api_key": KEY, "campaign_id": "cam_A", "allow_running": "1"}, where="destination 'acme'"
    )
    assert (settings.campaign_id, settings.allow_running) == ("cam_A", True)
    assert settings.source("api_key") == "api_key of destination 'acme'"
    with pytest.raises(ConfigurationError, match="campaign_id of destination 'acme' is missing"):
        LemlistSettings.from_mapping({"api_key": KEY}, where="destination 'acme'")
    with pytest.raises(ConfigurationError, match="unknown setting 'token'"):
        LemlistSettings.from_mapping({"api_key": KEY, "campaign_id": "c", "token": "x"}, where="d")


def test_http_is_allowed_to_loopback_only() -> None:
    """The key travels in every request: plain http only to a local emulator."""
    local = LemlistSettings(api_key=KEY, campaign_id="cam_A", base_url="http://127.0.0.1:5000/api/")
    assert local.base_url == "http://127.0.0.1:5000/api"


def test_variable_names_are_camel_case() -> None:
    """One custom variable per message type, camelCase ASCII, future types included."""
    assert variable_name("connection_request") == "upscaleConnectionRequest"
    assert variable_name("stage_ambition") == "upscaleStageAmbition"
    assert variable_name("new-type_2") == "upscaleNewType2"


def test_canonical_linkedin() -> None:
    """Regional hosts, tracking parameters and extra parts go; a non-LinkedIn URL stays as given."""
    assert (
        canonical_linkedin("https://uk.linkedin.com/in/Ada-X?trk=1") == "https://www.linkedin.com/in/Ada-X/"
    )
    assert canonical_linkedin("linkedin.com/in/ada/details/") == "https://www.linkedin.com/in/ada/"
    assert canonical_linkedin("https://example.com/ada") == "https://example.com/ada"


def test_a_lead_needs_an_email_or_a_linkedin_url() -> None:
    """Neither: a permanent validation error naming the lead, raised before any request."""
    with pytest.raises(ValidationError, match="lead crm-9: email"):
        lead_body(Lead(external_prospect_id="crm-9", messages={"connection_request": "Hi"}))


def test_texts_over_the_limits_are_refused() -> None:
    """An invitation note over 300 characters and a message over 8,000 are both reported."""
    lead = Lead(
        external_prospect_id="crm-1",
        linkedin="https://www.linkedin.com/in/a/",
        messages={"connection_request": "x" * 301, "first_follow_up": "y" * 8001, "share_material": "ok"},
    )
    with pytest.raises(ValidationError) as caught:
        lead_body(lead)
    assert caught.value.paths == [
        "lead crm-1: messages.connection_request",
        "lead crm-1: messages.first_follow_up",
    ]
    assert lead_body(lead, connection_note_limit=400, message_limit=9000)["upscaleShareMaterial"] == "ok"
