"""The config file: instances and routes from TOML; every mistake one line naming the file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from msgrelay.destinations import DestinationSettings, Route, RouteTable, config_from_env, load_config
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager
from tests.destinations.test_types import Built, CrmPlugin

GOOD = """
[destinations.acme-crm]
type = "crm"
portal = 4711
token_env = "ACME_TOKEN"

[destinations.crm]            # replaces the type's default instance
type = "crm"
portal = "1"

[[routes]]
customer = "acme"
campaign = "spring"
to = ["acme-crm"]
skip_empty = true

[[routes]]
customer = "acme"
to = ["acme-crm", "store"]

[[routes]]
to = ["store"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return path


def _manager(plugin: CrmPlugin) -> PluginManager:
    pm = PluginManager(environ={}, entry_points=False).load()
    pm.register(plugin, name="crm-plugin")
    return pm


def test_instances_are_built_and_routes_match_most_specific_first(tmp_path: Path) -> None:
    """Settings arrive as text (a variable resolved, a number as written); a route for the customer and
    campaign beats the customer's, which beats the fallback."""
    plugin = CrmPlugin()
    pm = _manager(plugin)
    config = load_config(_write(tmp_path, GOOD), environ={"ACME_TOKEN": "tok-acme"})
    config.install(pm.destinations)
    assert [(b.name, b.settings) for b in plugin.built] == [
        ("acme-crm", {"portal": "4711", "token": "tok-acme"}),
        ("crm", {"portal": "1"}),
    ]
    assert not pm.destinations.get("crm").default
    routes = config.routes
    assert routes.match("acme", "spring") == Route(
        to=["acme-crm"], customer="acme", campaign="spring", skip_empty=True
    )
    assert routes.match("acme", "autumn") == Route(to=["acme-crm", "store"], customer="acme")
    assert routes.match("acme", None) == Route(to=["acme-crm", "store"], customer="acme")
    assert routes.match("globex", "spring") == Route(to=["store"])
    assert RouteTable([Route(to=["x"], customer="acme")]).match("globex", None) is None


def test_msgrelay_config_names_the_file(tmp_path: Path) -> None:
    """``MSGRELAY_CONFIG`` names the file; unset means no config."""
    path = _write(tmp_path, "[[routes]]\nto = ['store']\n")
    assert config_from_env({}) is None
    config = config_from_env({"MSGRELAY_CONFIG": str(path)})
    assert config is not None
    assert config.routes.match(None, None) == Route(to=["store"])


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "[destinations.a]\ntype = 'hubsopt'\n",
            "[destinations.a] type: unknown destination type 'hubsopt' (registered types: crm)",
        ),
        ("[destinations.a]\nportal = '1'\n", "[destinations.a] type: required"),
        (
            "[destinations.a]\ntype = 'crm'\nportal = '1'\nregion = 'eu'\n",
            "[destinations.a] region: unknown setting of type 'crm' (known: portal, token)",
        ),
        (
            "[destinations.a]\ntype = 'crm'\nportal = '1'\ntoken = 'tok-inline'\n",
            "[destinations.a] token: a secret is given only by the name of its variable: "
            'token_env = "VARIABLE"',
        ),
        (
            "[destinations.a]\ntype = 'crm'\nportal = '1'\ntoken_env = 'UNSET_TOKEN'\n",
            "[destinations.a] token_env: the variable UNSET_TOKEN is not set",
        ),
        (
            "[destinations.a]\ntype = 'crm'\nportal = ['1']\n",
            "[destinations.a] portal: must be a string, a number or a boolean, not an array",
        ),
        (
            "[destinations.a]\ntype = 'crm'\n",
            "MSGRELAY_CRM_PORTAL",
        ),  # replaced below: the factory's own error
        (
            "[[routes]]\nto = ['acme-crn']\n",
            "[[routes]] #1 to: unknown destination 'acme-crn' (known: crm, store)",
        ),
        (
            "[[routes]]\ncustomer = 'acme'\n",
            "[[routes]] #1 to: required: a non-empty list of destination names",
        ),
        (
            "[[routes]]\nto = ['store']\nskip_empty = 'yes'\n",
            "[[routes]] #1 skip_empty: must be true or false, not a string",
        ),
        (
            "[[routes]]\nto = ['store']\ncustomr = 'acme'\n",
            "[[routes]] #1 customr: unknown key (known: customer, campaign, to, skip_empty)",
        ),
        ("[[routes]]\ncampaign = 'spring'\nto = ['store']\n", "[[routes]] #1 campaign: needs a customer"),
        (
            "[[routes]]\nto = ['store']\n[[routes]]\nto = ['crm']\n",
            "[[routes]] #2: matches the same customer and campaign as [[routes]] #1",
        ),
        ("[route]\nto = ['store']\n", "(top level) route: unknown key (known: destinations, routes)"),
        ("routes = 'store'\n", "(top level) routes: must be an array of tables: [[routes]]"),
        ("[[routes]\n", "not valid TOML: "),
    ],
)
def test_each_mistake_is_one_line_naming_file_table_and_key(tmp_path: Path, text: str, error: str) -> None:
    """Unknown type, key or destination, an inline secret, a missing variable, a wrong value type, a
    repeated route, bad TOML: one line that starts with the file and names the table and key, never a
    value."""
    if error == "MSGRELAY_CRM_PORTAL":
        error = "[destinations.a] portal: required: the CRM portal id"
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_config(path, environ={}).install(_manager(CrmPlugin()).destinations)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert error in message
    assert "\n" not in message
    assert "tok-inline" not in message


def test_a_factory_error_names_the_variable_a_secret_came_from(tmp_path: Path) -> None:
    """A setting given as ``<key>_env`` is named where the file names it, with its variable."""

    class Strict(CrmPlugin):
        def factory(self, name: str, settings: DestinationSettings) -> Built:
            raise settings.error("token", "is not a CRM token")

    path = _write(tmp_path, "[destinations.a]\ntype = 'crm'\nportal = '1'\ntoken_env = 'A_TOKEN'\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config(path, environ={"A_TOKEN": "tok-a"}).install(_manager(Strict()).destinations)
    assert str(caught.value) == (
        f"{path}: [destinations.a] token_env (the variable A_TOKEN): is not a CRM token"
    )


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    """A missing file names itself."""
    with pytest.raises(ConfigurationError, match=r"missing\.toml: cannot read the config file: No such file"):
        load_config(tmp_path / "missing.toml")
