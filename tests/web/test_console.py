"""The operator console in a real headless browser, and its guards (sign-in, CSRF, no secret shown)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from msgrelay.ledger import SQLiteLedger
from msgrelay.ledger.base import HookErrorRow
from msgrelay.plugins import PluginManager
from msgrelay.sandbox import Fault, Sandbox
from msgrelay.web.console import COOKIE, SESSION_SECONDS, Console, known_secrets
from msgrelay.web.routing import Request
from tests.helpers import FakeClock, Recorder, wait_until
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
    from selenium.webdriver.support.wait import WebDriverWait

    served, sid = dead_letter
    browser.get(served.url + "/")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    dead = WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "dead-letters"))
    assert browser.find_element(By.ID, "count-dead").text.split() == ["1", "dead"]
    assert "crm is down" in dead.text
    assert sid in dead.text
    crm.fail_times = 0  # the CRM is back
    dead.find_element(By.TAG_NAME, "button").click()
    # The click returns before the answer's page has loaded: wait for it, with a deadline.
    flash = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "flash"))
    assert "Retried 1 dead letter" in flash[0].text
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


def sign_in(served: Served, **headers: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    answer = session.post(
        f"{served.url}/login", data={"token": TOKEN}, headers=headers, timeout=10, allow_redirects=False
    )
    assert answer.status_code == 303
    return session, answer


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def test_the_session_cookie_expires_is_secure_over_https_and_ends_at_logout(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> None:
    """Max-Age of 12 h, not Secure over plain http; signing out clears the cookie and the old cookie no
    longer opens the page."""
    with serving(monkeypatch, sandbox, msgrelay_plugins) as served:
        session, plain = sign_in(served)
        assert f"Max-Age={SESSION_SECONDS}" in plain.headers["Set-Cookie"]
        assert "Secure" not in plain.headers["Set-Cookie"]
        page = session.get(served.url + "/", timeout=10).text
        assert 'id="sign-out"' in page
        old_cookie = session.cookies[COOKIE]
        out = session.post(
            f"{served.url}/logout", data={"csrf": csrf_of(page)}, timeout=10, allow_redirects=False
        )
        assert (out.status_code, out.headers["Location"]) == (303, "/")
        assert "Max-Age=0" in out.headers["Set-Cookie"]
        again = requests.get(served.url + "/", cookies={COOKIE: old_cookie}, timeout=10)
        assert 'id="sign-in"' in again.text


def test_a_session_expires_after_twelve_hours_even_if_the_cookie_is_kept(msgrelay_home: Any) -> None:
    """The issue time is signed into the cookie, so a copied cookie stops working on time; the cookie is
    Secure when the request came over https (waitress's url_scheme, or a proxy's X-Forwarded-Proto)."""
    clock = FakeClock()
    with SQLiteLedger() as ledger:
        console = Console(ledger, token=TOKEN, clock=clock)
        login = console.router.dispatch(Request("POST", "/login", {}, {}, f"token={TOKEN}".encode()))
        cookie = dict(login.headers)["Set-Cookie"].split(";")[0]
        page = Request("GET", "/", {}, {"cookie": cookie})
        assert 'id="sign-out"' in console.router.dispatch(page).body
        clock.advance(SESSION_SECONDS - 1)
        assert 'id="sign-out"' in console.router.dispatch(page).body
        clock.advance(2)
        assert 'id="sign-in"' in console.router.dispatch(page).body
        for secure in (
            Request("POST", "/login", {}, {}, f"token={TOKEN}".encode(), scheme="https"),
            Request("POST", "/login", {}, {"x-forwarded-proto": "https"}, f"token={TOKEN}".encode()),
        ):
            assert "; Secure" in dict(console.router.dispatch(secure).headers)["Set-Cookie"]
        forged = cookie.replace(cookie.split(".")[1], str(int(clock.now)))  # a fresh time, the old MAC
        assert 'id="sign-in"' in console.router.dispatch(Request("GET", "/", {}, {"cookie": forged})).body


def test_errors_on_the_page_never_show_a_secret(monkeypatch: pytest.MonkeyPatch, msgrelay_home: Any) -> None:
    """A hook error quoting a URL with a token and the vendor keys shows neither the token nor a key."""
    monkeypatch.setenv("UPSCALE_API_KEY", "upscale-key-123456")
    monkeypatch.setenv("COLLECT_API_KEY", "collect-key-654321")
    monkeypatch.setenv("MSGRELAY_WEBHOOK_SECRET", "hook-secret-abcdef")
    text = (
        "POST https://user:pw@crm.example/x?token=url-token-999&id=7 failed; key upscale-key-123456, "
        "collect-key-654321, hook-secret-abcdef, op token " + TOKEN
    )
    with SQLiteLedger() as ledger:
        ledger.record_hook_errors(
            [HookErrorRow(plugin="crm", hook="on_batch", subject="b1", error=text)], now=1.0
        )
        console = Console(ledger, token=TOKEN, secrets=known_secrets(TOKEN))
        page = console.router.dispatch(Request("GET", "/", {}, {"authorization": f"Bearer {TOKEN}"})).body
    assert "crm.example/x?token=REDACTED&amp;id=7" in page
    for secret in (
        "url-token-999",
        "user:pw",
        "upscale-key-123456",
        "collect-key-654321",
        "hook-secret-abcdef",
    ):
        assert secret not in page
    assert TOKEN not in page


def test_dead_batches_are_shown_with_a_retry_that_redrives_them(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, msgrelay_plugins: PluginManager
) -> None:
    """A batch whose retrieve the vendor refused (404) is listed under dead batches; its retry button
    re-drives it, and it is delivered."""
    sandbox.inject(Fault("GET", "/retrieve_messages", status=404, body={"message": "no"}))
    with serving(monkeypatch, sandbox, msgrelay_plugins) as served:
        sid = post(served, "generate", generate_inputs(served)).json()["secure_request_id"]
        wait_until(lambda: bool(served.ledger.status()["dead_batches"]), what="a dead batch")
        session, _ = sign_in(served)
        page = session.get(served.url + "/", timeout=10).text
        section = page.split('id="dead-batches"')[1].split("</section>")[0]
        assert sid in section
        assert "404" in section
        assert 'name="all" value="1"' in section
        retried = session.post(
            f"{served.url}/retry", data={"csrf": csrf_of(page), "all": "1"}, timeout=10, allow_redirects=False
        )
        assert retried.headers["Location"] == "/?retried=0&batches=1"
        wait_until(lambda: served.ledger.batch_counts("upscale", sid) == {"delivered": 1}, what="redelivery")
        assert served.ledger.status()["dead_batches"] == []
