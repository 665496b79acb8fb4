"""Settings: read from the environment in one place, errors that name the variable, secrets kept hidden."""

from __future__ import annotations

import base64

import pytest
from msgrelay_webhook import EnvironmentWebhook, SigningSecret, WebhookConfig, WebhookDestination
from msgrelay_webhook.urls import check_public

from msgrelay.errors import ConfigurationError
from msgrelay.transport import Timeout

URL = "https://hooks.example.com/hooks/catch/1234567/secret-hook-path/"
HEADER_VALUE = "key-0f3e9d8c7b6a"


def test_missing_url_names_the_variable() -> None:
    """Without a URL the error says which variable to set."""
    with pytest.raises(ConfigurationError, match="MSGRELAY_WEBHOOK_URL"):
        WebhookConfig.from_env({})


def test_blank_url_counts_as_missing() -> None:
    """A blank value is no value."""
    with pytest.raises(ConfigurationError, match="MSGRELAY_WEBHOOK_URL"):
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": "  "})


def test_everything_from_the_environment(secret_text: str) -> None:
    """URL, secrets, static headers and timeout all come from ``MSGRELAY_WEBHOOK_*``."""
    config = WebhookConfig.from_env(
        {
            "MSGRELAY_WEBHOOK_URL": URL,
            "MSGRELAY_WEBHOOK_SIGNING_SECRET": secret_text,
            "MSGRELAY_WEBHOOK_HEADERS": f"X-Api-Key: {HEADER_VALUE}\n\nx-make-apikey:  other ",
            "MSGRELAY_WEBHOOK_TIMEOUT": "20",
        }
    )
    assert config.url == URL
    assert config.secrets == (SigningSecret(secret_text),)
    assert config.headers == (("X-Api-Key", HEADER_VALUE), ("x-make-apikey", "other"))
    assert config.timeout == Timeout(connect=5.0, read=20.0)
    assert not config.allow_insecure


def test_explicit_arguments_beat_the_environment() -> None:
    """An argument given to `from_env` wins over the variable."""
    env = {"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_TIMEOUT": "20"}
    config = WebhookConfig.from_env(env, url="https://other.example.com/x", timeout=3.0, headers=[])
    assert (config.url, config.timeout, config.headers) == (
        "https://other.example.com/x",
        Timeout(3.0, 3.0),
        (),
    )


def test_several_secrets_for_rotation(secret_text: str) -> None:
    """Space-separated secrets are all kept, to sign with each while a receiver moves to the new one."""
    config = WebhookConfig.from_env(
        {"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_SIGNING_SECRET": f"{secret_text} {secret_text}"}
    )
    assert len(config.secrets) == 2


def test_bad_secret_names_the_variable_and_hides_the_value() -> None:
    """A malformed secret is reported by variable name; its text appears nowhere in the error."""
    bad = "whsec_this-is-not-base64!"
    with pytest.raises(ConfigurationError, match="MSGRELAY_WEBHOOK_SIGNING_SECRET") as caught:
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_SIGNING_SECRET": bad})
    assert "not-base64" not in str(caught.value)


@pytest.mark.parametrize("size", [1, 16, 23, 65, 96])
def test_secret_of_the_wrong_size_names_the_variable_and_hides_the_value(size: int) -> None:
    """A key outside 24..64 bytes (``whsec_AA==`` is one byte) is refused by variable name, never shown."""
    bad = "whsec_" + base64.b64encode(bytes(range(7, 7 + size))).decode()
    env = {"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_SIGNING_SECRET": bad}
    with pytest.raises(ConfigurationError, match=r"MSGRELAY_WEBHOOK_SIGNING_SECRET.*24 to 64") as caught:
        WebhookConfig.from_env(env)
    assert bad.removeprefix("whsec_").rstrip("=") not in str(caught.value)


def test_one_byte_secret_is_refused(secret_text: str) -> None:
    """The reviewer's case, alone and next to a valid secret while rotating."""
    for value in ("whsec_AA==", f"{secret_text} whsec_AA=="):
        env = {"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_SIGNING_SECRET": value}
        with pytest.raises(
            ConfigurationError, match="MSGRELAY_WEBHOOK_SIGNING_SECRET is too short"
        ) as caught:
            WebhookConfig.from_env(env)
        assert "AA==" not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        (f"X-Api-Key {HEADER_VALUE}", "line 1"),
        (f"X Api: {HEADER_VALUE}", "line 1"),
        (f"X-Ok: 1\nwebhook-id: {HEADER_VALUE}", "line 2.*set by the webhook destination"),
        ("Content-Type: text/plain", "set by the webhook destination"),
        ("X-Api-Key:", "needs a value"),
        ("X-Api-Key: café-clé", "printable ASCII"),
    ],
)
def test_bad_header_names_the_variable_and_hides_the_value(headers: str, match: str) -> None:
    """A malformed static header is reported with the variable and line; the value is never shown."""
    with pytest.raises(ConfigurationError, match=match) as caught:
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_HEADERS": headers})
    assert "MSGRELAY_WEBHOOK_HEADERS" in str(caught.value)
    assert HEADER_VALUE not in str(caught.value)
    assert "clé" not in str(caught.value)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "301"])
def test_bad_timeout_names_the_variable(value: str) -> None:
    """The timeout must be a number of seconds in (0, 300]."""
    with pytest.raises(ConfigurationError, match="MSGRELAY_WEBHOOK_TIMEOUT"):
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_TIMEOUT": value})


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://hooks.example.com/hooks/catch/1/secret-path/", "https"),
        ("ftp://hooks.example.com/secret-path", "absolute https"),
        ("hooks.example.com/secret-path", "absolute https"),
        ("https://127.0.0.1:8080/secret-path", "non-public"),
        ("https://10.1.2.3/secret-path", "non-public"),
        ("https://169.254.169.254/secret-path", "non-public"),
        ("https://[::1]/secret-path", "non-public"),
        ("https://[::ffff:192.168.0.1]/secret-path", "non-public"),
    ],
)
def test_insecure_urls_are_refused_by_default(url: str, match: str) -> None:
    """Plain HTTP and non-public addresses are refused unless allowed; the error names the variable,
    not the path."""
    with pytest.raises(ConfigurationError, match=match) as caught:
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": url})
    assert "MSGRELAY_WEBHOOK_URL" in str(caught.value)
    assert "secret-path" not in str(caught.value)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 well-known prefix, embeds 127.0.0.1
        "64:ff9b::a00:1",  # NAT64, embeds 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64, embeds 169.254.169.254 (cloud metadata)
        "64:ff9b:1::808:808",  # local-use NAT64 prefix: never public
        "2002:7f00:1::",  # 6to4, embeds 127.0.0.1
        "2002:c0a8:1::1",  # 6to4, embeds 192.168.0.1
        "2002:e000:1::1",  # 6to4, embeds multicast 224.0.1.0
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1
        "::ffff:7f00:1",  # IPv4-mapped 127.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:0:7f00:1",  # SIIT IPv4-translated 127.0.0.1
    ],
)
def test_ipv6_embedding_a_non_public_ipv4_is_refused(address: str) -> None:
    """An IPv6 address that carries a loopback, private or link-local IPv4 address reaches that host,
    so it is refused like the IPv4 address itself, both as a literal URL and as a resolved answer."""
    url = f"https://[{address}]/secret-path"
    with pytest.raises(ConfigurationError, match="non-public") as caught:
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": url})
    assert "secret-path" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="non-public"):
        check_public(url, allow_insecure=False)


@pytest.mark.parametrize(
    "address",
    [
        "2001:4860:4860::8888",  # a public IPv6 address
        "64:ff9b::808:808",  # NAT64 of the public 8.8.8.8
        "::ffff:808:808",  # IPv4-mapped 8.8.8.8
    ],
)
def test_public_ipv6_is_accepted(address: str) -> None:
    """A genuine public IPv6 address, or one that embeds a public IPv4 address, passes both checks."""
    url = f"https://[{address}]/hooks/x"
    assert WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": url}).url == url
    check_public(url, allow_insecure=False)  # a literal: getaddrinfo returns it without DNS


def test_allow_insecure_permits_a_local_endpoint() -> None:
    """``MSGRELAY_WEBHOOK_ALLOW_INSECURE=1`` permits http:// and loopback (a local n8n, a test receiver)."""
    config = WebhookConfig.from_env(
        {"MSGRELAY_WEBHOOK_URL": "http://127.0.0.1:5678/webhook/x", "MSGRELAY_WEBHOOK_ALLOW_INSECURE": "1"}
    )
    assert config.allow_insecure
    check_public(config.url, allow_insecure=True)


def test_a_name_resolving_to_loopback_is_refused() -> None:
    """A host name is resolved before sending, and a loopback answer is refused (SSRF guard)."""
    with pytest.raises(ConfigurationError, match="non-public"):
        check_public("https://localhost/hooks/x", allow_insecure=False)


def test_direct_construction_is_checked_too() -> None:
    """`WebhookConfig(...)` checks what `from_env` checks."""
    with pytest.raises(ConfigurationError, match="https"):
        WebhookConfig(url="http://hooks.example.com/x")
    with pytest.raises(ConfigurationError, match="set by"):
        WebhookConfig(url=URL, headers=(("webhook-signature", "v1,forged"),))
    with pytest.raises(ConfigurationError, match="SigningSecret"):
        WebhookConfig(url=URL, secrets=("whsec_abc",))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        WebhookConfig(url=URL, max_body_bytes=3 * 1024 * 1024)


def test_reprs_hide_every_secret(secret_text: str) -> None:
    """Config, destination and plugin reprs show the host and header names, never the secret, a header
    value, or the URL's path."""
    env = {
        "MSGRELAY_WEBHOOK_URL": URL,
        "MSGRELAY_WEBHOOK_SIGNING_SECRET": secret_text,
        "MSGRELAY_WEBHOOK_HEADERS": f"X-Api-Key: {HEADER_VALUE}",
    }
    config = WebhookConfig.from_env(env)
    plugin = EnvironmentWebhook(env)
    with WebhookDestination(config) as destination:
        plugin.destination()
        shown = " ".join([repr(config), str(config), repr(destination), repr(plugin)])
    plugin.close()
    assert "hooks.example.com" in shown
    assert "X-Api-Key" in shown
    for hidden in (
        secret_text,
        secret_text.removeprefix("whsec_"),
        HEADER_VALUE,
        "secret-hook-path",
        "1234567",
    ):
        assert hidden not in shown


def test_settings_by_key_name_the_setting_where_it_came_from(secret_text: str) -> None:
    """`from_settings` reads the variables' suffixes as keys; errors name the key as ``where`` says."""
    config = WebhookConfig.from_settings(
        {"url": URL, "signing_secret": secret_text, "timeout": "20", "allow_insecure": "false"}
    )
    assert (config.url, config.secrets, config.timeout) == (
        URL,
        (SigningSecret(secret_text),),
        Timeout(connect=5.0, read=20.0),
    )
    where = {
        "url": "routes.toml [destinations.acme] url",
        "timeout": "routes.toml [destinations.acme] timeout",
    }
    with pytest.raises(
        ConfigurationError, match=r"^no webhook URL: set routes.toml \[destinations.acme\] url"
    ):
        WebhookConfig.from_settings({}, where=where.__getitem__)
    with pytest.raises(ConfigurationError, match=r"^routes.toml \[destinations.acme\] timeout must be"):
        WebhookConfig.from_settings({"url": URL, "timeout": "soon"}, where=where.__getitem__)
    with pytest.raises(ConfigurationError, match=r"^urll: unknown webhook setting \(known: allow_insecure"):
        WebhookConfig.from_settings({"urll": URL})


def test_the_receivers_own_secret_is_not_a_webhook_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MSGRELAY_WEBHOOK_SECRET`` (the inbound receiver's) shares the prefix but is not read by the
    default ``webhook`` instance, which reads only its declared keys."""
    from msgrelay.plugins import PluginManager

    monkeypatch.setenv("MSGRELAY_WEBHOOK_SECRET", "inbound-token")
    monkeypatch.setenv("MSGRELAY_WEBHOOK_URL", URL)
    kind = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "webhook"}).load().destinations.get_type("webhook")
    assert kind is not None
    assert dict(kind.from_env()) == {"url": URL}
    destination = kind.build("webhook", kind.from_env())
    assert isinstance(destination, WebhookDestination)
    assert destination.config.url == URL
    destination.close()


def test_concurrency_from_the_environment_a_config_file_or_an_argument() -> None:
    """``MSGRELAY_WEBHOOK_CONCURRENCY`` (default 8), the ``concurrency`` key, or the argument, which wins;
    the default instance of the ``webhook`` type reads the variable too."""
    from msgrelay.plugins import PluginManager

    assert WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": URL}).concurrency == 8
    env = {"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_CONCURRENCY": " 3 "}
    assert WebhookConfig.from_env(env).concurrency == 3
    assert WebhookConfig.from_env(env, concurrency=1).concurrency == 1
    assert WebhookConfig.from_settings({"url": URL, "concurrency": "16"}).concurrency == 16
    kind = PluginManager(environ={"MSGRELAY_LOAD_PLUGINS": "webhook"}).load().destinations.get_type("webhook")
    assert kind is not None
    assert dict(kind.from_env(env)) == {"url": URL, "concurrency": "3"}
    assert "concurrency=3" in repr(WebhookConfig.from_env(env))


@pytest.mark.parametrize("value", ["0", "-2", "2.5", "eight", "65", "1e3"])
def test_bad_concurrency_names_the_variable_in_one_line(value: str) -> None:
    """The concurrency must be a whole number from 1 to 64; the error names the variable and the range."""
    with pytest.raises(ConfigurationError) as caught:
        WebhookConfig.from_env({"MSGRELAY_WEBHOOK_URL": URL, "MSGRELAY_WEBHOOK_CONCURRENCY": value})
    message = str(caught.value)
    assert message.startswith("MSGRELAY_WEBHOOK_CONCURRENCY must be a whole number of requests from 1 to 64")
    assert "\n" not in message
    with pytest.raises(ConfigurationError, match=r"^\[destinations.acme\] concurrency must be"):
        WebhookConfig.from_settings(
            {"url": URL, "concurrency": value}, where=lambda k: f"[destinations.acme] {k}"
        )


@pytest.mark.parametrize("value", [0, True, 2.0, "4"])
def test_bad_concurrency_in_code_is_refused(value: object) -> None:
    """Built directly, the concurrency must be an int from 1 to 64 (a bool or a float is not)."""
    with pytest.raises(ConfigurationError, match=r"^concurrency must be"):
        WebhookConfig(url=URL, concurrency=value)  # type: ignore[arg-type]
