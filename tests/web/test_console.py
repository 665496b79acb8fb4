"""The operator console in a real headless browser, and its guards (sign-in, CSRF, no secret shown)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Sandbox
from tests.helpers import Recorder, wait_until
from tests.serving import HOOK_SECRET, TOKEN, Served, serving
from tests.web.test_steps_api import generate_inputs, post


@pytest.fixture
def crm(msgrelay_plugins: PluginManager) -> Iterator[Recorder]:
    """A CRM destination that is down until a test brings it back."""
    recorder = Recorder(name="crm", fail_times=1_000)
    msgrelay_plugins.register(recorder, name="crm")
    try:
        yield recorder
    finally:
        msgrelay_plugins.unregister(name="crm")


@pytest.fixture
def dead_letter(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager, crm: Recorder
) -> Iterator[tuple[Served, str]]:
    """serve with one generation whose delivery to the CRM is dead-lettered; yields it and its batch."""
    with serving(monkeypatch, sandbox, msgrelay_plugins, destinations=("crm",)) as served:
        sid = post(served, "generate", generate_inputs(served)).json()["secure_request_id"]
        wait_until(lambda: served.ledger.batch_counts("upscale", sid) == {"dead": 1}, what="a dead letter")
        yield served, sid


def test_the_console_shows_counts_and_retries_a_dead_letter(
    browser: Any, dead_letter: tuple[Served, str], crm: Recorder
) -> None:
    """Sign in, see one dead letter with its error, press retry, see it delivered."""
    from selenium.webdriver.common.by import By

    served, sid = dead_letter
    browser.get(served.url + "/")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    dead = browser.find_element(By.ID, "dead-letters")
    assert browser.find_element(By.ID, "count-dead").text.split() == ["1", "dead"]
    assert "crm is down" in dead.text
    assert sid in dead.text
    crm.fail_times = 0  # the CRM is back
    dead.find_element(By.TAG_NAME, "button").click()
    assert "Retried 1 dead letter" in browser.find_element(By.ID, "flash").text
    wait_until(lambda: served.ledger.batch_counts("upscale", sid) == {"delivered": 1}, what="redelivery")
    browser.get(served.url + "/")
    assert browser.find_element(By.ID, "count-delivered").text.split() == ["1", "delivered"]
    assert browser.find_element(By.ID, "count-dead").text.split() == ["0", "dead"]
    for secret in (TOKEN, HOOK_SECRET, served.sandbox.upscale_api_key):
        assert secret not in browser.page_source


def test_retry_needs_the_session_and_its_csrf_token(dead_letter: tuple[Served, str]) -> None:
    """A forged form (no cookie, or a cookie without its CSRF token) changes nothing; bearer works."""
    served, sid = dead_letter
    forged = requests.post(
        f"{served.url}/retry", data={"destination": "crm"}, timeout=10, allow_redirects=False
    )
    assert forged.status_code == 403
    session = requests.Session()
    signed_in = session.post(f"{served.url}/login", data={"token": TOKEN}, timeout=10, allow_redirects=False)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    no_csrf = session.post(
        f"{served.url}/retry", data={"destination": "crm"}, timeout=10, allow_redirects=False
    )
    assert no_csrf.status_code == 403
    assert served.ledger.batch_counts("upscale", sid) == {"dead": 1}
    wrong = session.post(f"{served.url}/login", data={"token": "guess"}, timeout=10, allow_redirects=False)
    assert wrong.status_code == 401
    by_script = requests.post(
        f"{served.url}/retry",
        data={"destination": "crm"},
        headers=served.auth,
        timeout=10,
        allow_redirects=False,
    )
    assert (by_script.status_code, by_script.headers["Location"]) == (303, "/?retried=1")


def test_without_a_token_the_console_is_off(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> None:
    """No MSGRELAY_API_TOKEN: the page says how to turn the console on, and retry is refused."""
    with serving(monkeypatch, sandbox, msgrelay_plugins, token=None) as served:
        page = requests.get(served.url + "/", timeout=10)
        retry = requests.post(f"{served.url}/retry", data={"destination": "store"}, timeout=10)
    assert "MSGRELAY_API_TOKEN" in page.text
    assert retry.status_code == 403
