"""Destination types: registered by plugins, default instances from the environment, others from settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import pytest

from msgrelay import hookimpl
from msgrelay.destinations import Delivery, DestinationSettings, RegisterDestinationType, RelayContext
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager

CONTEXT = RelayContext(source="upscale", batch_id="batch-1")


@attrs.define
class Built:
    """An instance the factory made: remembers its settings, deliveries and whether it was closed."""

    name: str
    settings: dict[str, str]
    delivered: list[str] = attrs.field(factory=list)
    closed: bool = False

    def deliver(self, delivery: Delivery) -> None:
        self.delivered.append(delivery.key)

    def close(self) -> None:
        self.closed = True


@attrs.define(eq=False)  # pluggy tells plugins apart by equality
class CrmPlugin:
    """A plugin registering the type ``crm`` (keys ``portal`` and secret ``token``)."""

    type_name: str = "crm"
    settings: Iterable[str] = ("portal",)
    secrets: Iterable[str] = ("token",)
    built: list[Built] = attrs.field(factory=list)

    def factory(self, name: str, settings: DestinationSettings) -> Built:
        if "portal" not in settings:
            raise settings.error("portal", "required: the CRM portal id")
        made = Built(name, dict(settings))
        self.built.append(made)
        return made

    @hookimpl
    def register_destination_types(self, register: RegisterDestinationType) -> None:
        register(self.type_name, self.factory, settings=self.settings, secrets=self.secrets)


def _manager(*plugins: Any) -> PluginManager:
    pm = PluginManager(environ={}, entry_points=False).load()
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"plugin-{i}")
    return pm


def _delivery(destination: str, key: str = "d_1") -> Delivery:
    return Delivery(destination=destination, key=key, context=CONTEXT)


def test_default_instance_is_built_from_the_environment_on_first_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The type's default instance, named after it, reads ``MSGRELAY_CRM_*`` only when first used, and
    only the declared keys (``MSGRELAY_CRM_OTHER`` is not passed on)."""
    plugin = CrmPlugin()
    pm = _manager(plugin)
    assert pm.load_errors == []
    assert pm.destinations.types() == ["crm"]
    destination = pm.destinations.get("crm")
    assert (destination.plugin, destination.type, destination.default) == ("plugin-0", "crm", True)
    assert plugin.built == []
    monkeypatch.setenv("MSGRELAY_CRM_PORTAL", "4711")
    monkeypatch.setenv("MSGRELAY_CRM_TOKEN", "tok-secret")
    monkeypatch.setenv("MSGRELAY_CRM_OTHER", "ignored")
    assert destination.deliver_batch([_delivery("crm", "d_1"), _delivery("crm", "d_2")]) == {}
    assert destination.deliver_batch([_delivery("crm", "d_3")]) == {}
    [built] = plugin.built
    assert built.settings == {"portal": "4711", "token": "tok-secret"}
    assert built.delivered == ["d_1", "d_2", "d_3"]
    pm.destinations.close()
    assert built.closed


def test_unconfigured_default_instance_fails_its_deliveries_naming_the_variable() -> None:
    """A default instance whose settings are missing fails each delivery with the factory's error,
    naming the environment variable; loading did not fail."""
    pm = _manager(CrmPlugin())
    failures = pm.destinations.get("crm").deliver_batch([_delivery("crm")])
    assert isinstance(failures["d_1"], ConfigurationError)
    assert str(failures["d_1"]) == "MSGRELAY_CRM_PORTAL: required: the CRM portal id"


def test_undeclared_keys_pass_every_prefixed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A type that declares no keys receives every ``MSGRELAY_<TYPE>_*`` variable, by lower-case suffix."""
    plugin = CrmPlugin(settings=(), secrets=())
    pm = _manager(plugin)
    monkeypatch.setenv("MSGRELAY_CRM_PORTAL", "1")
    monkeypatch.setenv("MSGRELAY_CRM_REGION", "eu")
    pm.destinations.get("crm").deliver_batch([_delivery("crm")])
    assert plugin.built[0].settings == {"portal": "1", "region": "eu"}


def test_an_instance_from_settings_replaces_the_default_of_its_name() -> None:
    """``add_instance`` builds at once; an instance named after the type replaces the default one."""
    plugin = CrmPlugin()
    pm = _manager(plugin)
    acme = pm.destinations.add_instance("acme-crm", "crm", DestinationSettings({"portal": "1"}))
    assert (acme.name, acme.type, acme.default, acme.plugin) == ("acme-crm", "crm", False, "plugin-0")
    replaced = pm.destinations.add_instance("crm", "crm", DestinationSettings({"portal": "2"}))
    assert not replaced.default
    assert [b.name for b in plugin.built] == ["acme-crm", "crm"]
    assert pm.destinations.get("crm").deliver_batch([_delivery("crm")]) == {}
    assert plugin.built[1].delivered == ["d_1"]
    pm.destinations.close()
    assert all(b.closed for b in plugin.built)


def test_add_instance_refuses_unknown_types_and_taken_names() -> None:
    """An unknown type lists the registered ones; a name a plain registration holds is not replaced."""
    pm = _manager(CrmPlugin())
    with pytest.raises(
        ConfigurationError, match=r"unknown destination type 'hubspot' \(registered types: crm\)"
    ):
        pm.destinations.add_instance("x", "hubspot", DestinationSettings({}))
    with pytest.raises(
        ConfigurationError, match=r"'store' is already registered by plugin 'msgrelay\.store'"
    ):
        pm.destinations.add_instance("store", "crm", DestinationSettings({"portal": "1"}))
    with pytest.raises(ConfigurationError, match="invalid destination name"):
        pm.destinations.add_instance("Bad Name", "crm", DestinationSettings({"portal": "1"}))


@pytest.mark.parametrize(
    ("plugin", "error"),
    [
        (CrmPlugin(type_name="my-crm"), "invalid destination type name 'my-crm'"),
        (CrmPlugin(settings="portal"), "settings must be a list of keys, not a string"),
        (CrmPlugin(secrets=("token_env",)), "invalid setting key 'token_env' in secrets"),
    ],
)
def test_a_bad_registration_is_a_load_error_of_the_plugin(plugin: CrmPlugin, error: str) -> None:
    """A bad type name or key list is recorded against the plugin; nothing is registered; no raise."""
    pm = _manager(plugin)
    assert [e.plugin for e in pm.load_errors] == ["plugin-0"]
    assert error in pm.load_errors[0].error
    assert pm.destinations.types() == []


def test_a_type_registered_twice_keeps_the_first() -> None:
    """The second plugin registering ``crm`` gets an error; unregistering the first forgets its type."""
    first, second = CrmPlugin(), CrmPlugin()
    pm = _manager(first, second)
    assert [(e.plugin, e.error) for e in pm.load_errors] == [
        ("plugin-1", "destination type 'crm' is already registered by plugin 'plugin-0'")
    ]
    pm.unregister(first)
    assert pm.destinations.types() == []
    assert "crm" not in pm.destinations


def test_settings_show_keys_never_values() -> None:
    """A settings mapping's repr names its keys only; ``error`` names the key where it came from."""
    settings = DestinationSettings({"token": "tok-secret"}, where=lambda key: f"routes.toml [x] {key}")
    assert "tok-secret" not in repr(settings)
    assert str(settings.error("token", "is wrong")) == "routes.toml [x] token: is wrong"
