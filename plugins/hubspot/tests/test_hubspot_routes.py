"""Two HubSpot portals in one config file: the ``hubspot`` type makes one instance per portal, each with
its own token from a variable, and routes send each customer's leads to its own portal only."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from msgrelay_hubspot import HubSpotEmulator
from msgrelay_hubspot.emulator import serve

from msgrelay.destinations import load_config
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import PluginManager
from msgrelay.relay import Relay
from msgrelay.sandbox import Sandbox
from msgrelay.testing import make_request
from msgrelay.upscale import UpscaleClient

CONFIG = """
[destinations.hubspot-eu]
type = "hubspot"
base_url = "{eu}"
token_env = "EU_PORTAL_TOKEN"
id_property = "msgrelay_external_prospect_id"
create_properties = "1"

[destinations.hubspot-us]
type = "hubspot"
base_url = "{us}"
token_env = "US_PORTAL_TOKEN"
id_property = "msgrelay_external_prospect_id"
create_properties = "1"

[[routes]]
customer = "acme-eu"
to = ["hubspot-eu"]

[[routes]]
customer = "acme-us"
to = ["hubspot-us"]
"""


def test_each_customer_reaches_only_its_own_portal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two `hubspot` instances built from the config file: each portal holds exactly its customer's leads."""
    eu, us = (
        HubSpotEmulator(token="pat-eu1-portal-token-000000000000"),
        HubSpotEmulator(token="pat-na1-us-token-0000"),
    )
    monkeypatch.setenv("EU_PORTAL_TOKEN", eu.token)
    monkeypatch.setenv("US_PORTAL_TOKEN", us.token)
    with (
        Sandbox(seconds_per_message=0.001, webhook_delivery=False) as sandbox,
        serve(eu) as eu_server,
        serve(us) as us_server,
    ):
        path = tmp_path / "routes.toml"
        path.write_text(CONFIG.format(eu=eu_server.url, us=us_server.url))
        plugins = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "hubspot"}).load()
        config = load_config(path)
        config.install(plugins.destinations)
        client = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False)
        ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
        relay = Relay(ledger=ledger, plugins=plugins, upscale=client, routes=config.routes)
        try:
            for customer, leads in (("acme-eu", 2), ("acme-us", 3)):
                request = attrs.evolve(
                    make_request(leads, prefix=customer), automation_tool_customer_id=customer
                )
                sid = client.request_generation(request).secure_request_id
                report = relay.relay(sid, max_wait=30.0)
                assert (report.delivered, report.dead, report.errors) == (leads, 0, [])
        finally:
            relay.close()
            plugins.destinations.close()
            ledger.close()
            client.close()
    ids = {
        portal: sorted(c["properties"]["msgrelay_external_prospect_id"] for c in emulator.received())
        for portal, emulator in (("eu", eu), ("us", us))
    }
    assert ids == {"eu": ["acme-eu-0", "acme-eu-1"], "us": ["acme-us-0", "acme-us-1", "acme-us-2"]}


def test_an_inline_token_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    """The token is a secret: given inline in the file it is a configuration error, its value not shown."""
    path = tmp_path / "routes.toml"
    path.write_text('[destinations.crm]\ntype = "hubspot"\ntoken = "pat-na1-inline-secret"\n')
    plugins = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "hubspot"}).load()
    with pytest.raises(Exception, match=r"\[destinations\.crm\] token") as caught:
        load_config(path).install(plugins.destinations)
    assert "pat-na1-inline-secret" not in str(caught.value)
