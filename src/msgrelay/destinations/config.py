"""The config file (``MSGRELAY_CONFIG`` or ``--config``): destination instances and routes, from TOML.

::

    [destinations.acme-crm]          # an instance of a destination type, with its own settings
    type = "webhook"
    url = "https://hooks.acme.example/msgrelay"
    signing_secret_env = "ACME_SIGNING_SECRET"   # a secret only by the name of its variable
    deliver_timeout = 30             # seconds one deliver call may take (default 60), for every type

    [[routes]]
    customer = "acme"                # automation_tool_customer_id; campaign = "..." narrows further
    to = ["acme-crm", "store"]
    skip_empty = true                # leads with no generated message are recorded as skipped

    [[routes]]                       # no match keys: the fallback
    to = ["store"]

Checked in two steps, each failing with one line naming the file, the table and the key: `load_config`
reads the file and resolves the variables (no plugin needed); `DestinationsConfig.install` then checks
the instances against the registered types and the routes against the destinations, and builds the
instances. A value is never put in an error: it may be a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from msgrelay.config import MSGRELAY_CONFIG, read_env
from msgrelay.destinations.registry import DestinationRegistry
from msgrelay.destinations.routes import Route, RouteTable
from msgrelay.destinations.types import SETTING_KEY, DestinationSettings
from msgrelay.errors import ConfigurationError

__all__ = ["DestinationsConfig", "InstanceSpec", "config_from_env", "load_config"]

_ENV_SUFFIX = "_env"
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP = ("destinations", "routes")
_ROUTE_KEYS = ("customer", "campaign", "to", "skip_empty")
#: The relay's own setting of every instance, whatever its type (not handed to the type's factory).
DELIVER_TIMEOUT = "deliver_timeout"


@attrs.frozen(kw_only=True)
class InstanceSpec:
    """One ``[destinations.NAME]`` table, its variables resolved.

    Attributes:
        name: the instance name (what routes and ``--to`` use).
        type: the destination type.
        values: setting key → text (TOML numbers and booleans as text).
        variables: for a key given as ``<key>_env``, the variable it was read from.
        table: ``[destinations.NAME]``, for messages.
        deliver_timeout: seconds one ``deliver`` call may take (None: the relay's default).
    """

    name: str
    type: str
    values: Mapping[str, str] = attrs.field(repr=False)
    variables: Mapping[str, str]
    table: str
    deliver_timeout: float | None = None


@attrs.frozen(kw_only=True)
class DestinationsConfig:
    """A loaded config file: destination instances and routes.

    Attributes:
        path: the file, as given (named in every error).
        instances: the ``[destinations.*]`` tables, in file order.
        routes: the ``[[routes]]``.
    """

    path: str
    instances: tuple[InstanceSpec, ...] = ()
    routes: RouteTable = RouteTable()

    def error(self, table: str, key: str | None, problem: str) -> ConfigurationError:
        """One line: ``FILE: [TABLE] KEY: problem``."""
        return ConfigurationError(f"{self.path}: {table}{f' {key}' if key else ''}: {problem}")

    def install(self, registry: DestinationRegistry) -> None:
        """Build each instance into ``registry`` and check every route's destinations.

        Raises:
            ConfigurationError: an unknown type or key, an inline secret, a factory's refusal, or a route
                naming an unknown destination; naming the file, the table and the key.
        """
        for spec in self.instances:
            kind = registry.get_type(spec.type)
            if kind is None:
                known = ", ".join(registry.types()) or "none"
                raise self.error(
                    spec.table,
                    "type",
                    f"unknown destination type {spec.type!r} (registered types: {known}); "
                    "install or enable the plugin that provides it",
                )
            for key in spec.values:
                if kind.declared and key not in kind.settings | kind.secrets:
                    known = ", ".join(sorted(kind.settings | kind.secrets))
                    raise self.error(
                        spec.table, key, f"unknown setting of type {kind.name!r} (known: {known})"
                    )
                if key in kind.secrets and key not in spec.variables:
                    raise self.error(
                        spec.table,
                        key,
                        "a secret is given only by the name of its variable: "
                        f'{key}{_ENV_SUFFIX} = "VARIABLE"',
                    )
            settings = DestinationSettings(spec.values, where=self._namer(spec))
            try:
                registry.add_instance(spec.name, spec.type, settings)
            except ConfigurationError as exc:
                text = str(exc)
                # A factory's error names the key with `where` (so the file and table already); any
                # other is given the table.
                raise ConfigurationError(
                    text if text.startswith(self.path) else f"{self.path}: {spec.table}: {text}"
                ) from None
            if spec.deliver_timeout is not None:
                registry.timeouts[spec.name] = spec.deliver_timeout
        for route in self.routes.routes:
            for name in route.to:
                if name not in registry:
                    known = ", ".join(registry.names()) or "none"
                    raise self.error(route.where, "to", f"unknown destination {name!r} (known: {known})")

    def _namer(self, spec: InstanceSpec) -> Callable[[str], str]:
        def where(key: str) -> str:
            variable = spec.variables.get(key)
            if variable is not None:
                return f"{self.path}: {spec.table} {key}{_ENV_SUFFIX} (the variable {variable})"
            return f"{self.path}: {spec.table} {key}"

        return where


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> DestinationsConfig:
    """Read a config file: its ``[destinations.*]`` instances (variables resolved) and ``[[routes]]``.

    Args:
        path: the TOML file.
        environ: where ``<key>_env`` variables are read (default ``os.environ``).

    Raises:
        ConfigurationError: the file is unreadable or not TOML, or a table, key or value is wrong; one line
            naming the file, the table and the key.
    """
    shown = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{shown}: cannot read the config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{shown}: the config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{shown}: not valid TOML: {exc}") from None
    empty = DestinationsConfig(path=shown)
    for key in data:
        if key not in _TOP:
            raise empty.error("(top level)", key, f"unknown key (known: {', '.join(_TOP)})")
    tables = data.get("destinations", {})
    if not isinstance(tables, dict):
        raise empty.error("(top level)", "destinations", "must be tables: [destinations.NAME]")
    instances = tuple(_instance(empty, name, table, environ) for name, table in tables.items())
    routes = data.get("routes", [])
    if not isinstance(routes, list):
        raise empty.error("(top level)", "routes", "must be an array of tables: [[routes]]")
    table = RouteTable(_route(empty, i, entry) for i, entry in enumerate(routes, start=1))
    seen: dict[tuple[str | None, str | None], str] = {}
    for route in table.routes:
        if route.match_key in seen:
            raise empty.error(
                route.where, None, f"matches the same customer and campaign as {seen[route.match_key]}"
            )
        seen[route.match_key] = route.where
    return DestinationsConfig(path=shown, instances=instances, routes=table)


def config_from_env(environ: Mapping[str, str] | None = None) -> DestinationsConfig | None:
    """The file ``MSGRELAY_CONFIG`` names, loaded; None when it is unset."""
    path = read_env(MSGRELAY_CONFIG, environ)
    return load_config(path, environ=environ) if path else None


def _instance(
    config: DestinationsConfig, name: str, table: Any, environ: Mapping[str, str] | None
) -> InstanceSpec:
    where = f"[destinations.{name}]"
    if not isinstance(table, dict):
        raise config.error("(top level)", f"destinations.{name}", "must be a table: [destinations.NAME]")
    kind = table.get("type")
    if not isinstance(kind, str) or not kind:
        raise config.error(where, "type", 'required: the destination type, a string (type = "webhook")')
    values: dict[str, str] = {}
    variables: dict[str, str] = {}
    env = os.environ if environ is None else environ
    timeout = table.get(DELIVER_TIMEOUT)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600
    ):
        raise config.error(where, DELIVER_TIMEOUT, "must be a number of seconds above 0, at most 3600")
    for raw_key, value in table.items():
        if raw_key in ("type", DELIVER_TIMEOUT):
            continue
        key = raw_key.removesuffix(_ENV_SUFFIX)
        if not SETTING_KEY.match(key):
            raise config.error(where, raw_key, "invalid setting key: lower case letters, digits and '_'")
        if key in values:
            raise config.error(where, raw_key, f"{key} is given twice (inline and as {key}{_ENV_SUFFIX})")
        if raw_key.endswith(_ENV_SUFFIX):
            if not isinstance(value, str) or not _VARIABLE.match(value):
                raise config.error(where, raw_key, "must name an environment variable, a string")
            resolved = read_env(value, env)
            if resolved is None:
                raise config.error(where, raw_key, f"the variable {value} is not set")
            values[key], variables[key] = resolved, value
        else:
            values[key] = _text(config, where, raw_key, value)
    return InstanceSpec(
        name=name,
        type=kind,
        values=values,
        variables=variables,
        table=where,
        deliver_timeout=None if timeout is None else float(timeout),
    )


def _text(config: DestinationsConfig, where: str, key: str, value: Any) -> str:
    """A setting as the environment would give it: booleans as ``true``/``false``, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise config.error(where, key, f"must be a string, a number or a boolean, not {_toml_type(value)}")


def _route(config: DestinationsConfig, number: int, entry: Any) -> Route:
    where = f"[[routes]] #{number}"
    if not isinstance(entry, dict):
        raise config.error(where, None, "must be a table")
    for key in entry:
        if key not in _ROUTE_KEYS:
            raise config.error(where, key, f"unknown key (known: {', '.join(_ROUTE_KEYS)})")
    for key in ("customer", "campaign"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key]):
            raise config.error(where, key, "must be a non-empty string")
    if "campaign" in entry and "customer" not in entry:
        raise config.error(where, "campaign", "needs a customer: campaign ids are per customer")
    to = entry.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(n, str) and n for n in to):
        raise config.error(where, "to", 'required: a non-empty list of destination names (to = ["store"])')
    skip = entry.get("skip_empty", False)
    if not isinstance(skip, bool):
        raise config.error(where, "skip_empty", f"must be true or false, not {_toml_type(skip)}")
    return Route(
        to=to, customer=entry.get("customer"), campaign=entry.get("campaign"), skip_empty=skip, where=where
    )


def _toml_type(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__
