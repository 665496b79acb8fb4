"""The operator console: ``GET /``, one server-rendered page of what the relay holds, with retry buttons.

The page shows counts by state and destination, batches waiting for a webhook or being polled, dead
batches (given up by polling, or dead after the vendor refused the retrieve), dead letters with their
last error, and recent hook errors. ``POST /retry`` re-drives one dead letter (by its delivery key), a
whole destination's, or every dead batch and letter.

Access needs ``MSGRELAY_API_TOKEN``: an operator signs in once by typing it (``POST /login``) and gets a
session cookie that is an HMAC of a random nonce and its issue time under the token (never the token
itself; HttpOnly, SameSite=Strict, Secure when the request came over https, valid `SESSION_SECONDS`);
``POST /logout`` ends it. A script sends ``Authorization: Bearer``. Every form carries a CSRF token
derived from the session, checked in constant time. Without a token configured, the page says how to
turn it on. Nothing secret is rendered: texts are escaped, and errors (which quote vendor answers and
URLs) have their URLs' credentials and every known secret value redacted.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from msgrelay.config import (
    COLLECT_API_KEY,
    MSGRELAY_API_TOKEN,
    MSGRELAY_WEBHOOK_SECRET,
    UPSCALE_API_KEY,
    read_env,
)
from msgrelay.ledger.base import DEAD, Ledger
from msgrelay.transport.redact import Secret, redact_text, redact_url
from msgrelay.web.routing import Request, Response, Router
from msgrelay.web.steps_api import bearer_matches

__all__ = ["COOKIE", "MAX_CONSOLE_BODY", "SESSION_SECONDS", "Console", "known_secrets"]

COOKIE = "msgrelay_session"
#: How long a session lasts (the cookie's Max-Age, and checked on every request): a working day.
SESSION_SECONDS = 12 * 3600
#: The largest form the console reads: a token, a key, a CSRF token.
MAX_CONSOLE_BODY = 4 * 1024
#: The environment variables whose values the page never shows, even quoted in an error.
SECRET_VARIABLES = (MSGRELAY_API_TOKEN, MSGRELAY_WEBHOOK_SECRET, UPSCALE_API_KEY, COLLECT_API_KEY)
_URL = re.compile(r"https?://[^\s\"'<>]+")
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#aab3c5;font-size:13px}main{padding:8px 28px 28px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 18px;margin:14px 0}
h2{font-size:16px;margin:4px 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-size:12px;text-transform:uppercase;color:#5b6477}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;
padding:10px 16px;min-width:120px}.card b{display:block;font-size:24px}.dead b{color:#b42318}
.err{color:#b42318;font-family:ui-monospace,monospace;font-size:13px}.muted{color:#7a8396}
button{background:#1d4ed8;color:#fff;border:0;border-radius:5px;padding:4px 12px;cursor:pointer}
form{display:inline;margin:0}.flash{background:#ecfdf3;border-color:#abefc6}
form.signout{position:absolute;top:22px;right:28px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def known_secrets(*given: str | Secret | None) -> tuple[str | Secret, ...]:
    """``given`` and the values of `SECRET_VARIABLES` in the environment, the empty ones left out."""
    found = [*given, *(read_env(name) for name in SECRET_VARIABLES)]
    return tuple(secret for secret in found if secret)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Console:
    """The console's handlers, on the shared `Router`.

    Args:
        ledger: what the page shows and the retry buttons act on.
        token: ``MSGRELAY_API_TOKEN``; None turns the console off.
        on_retry: called with ``(source, batch_id)`` after a dead letter is revived, to nudge the
            relay (``RelayWorker.submit``); a destination's rows are picked up by the next sweep.
        clock: epoch seconds, for ages on the page and the sessions' expiry.
        secrets: values never rendered, even quoted in an error (`known_secrets`).
    """

    #: The largest body `msgrelay.web.app.ServeApp` reads for the console.
    max_body = MAX_CONSOLE_BODY

    def __init__(
        self,
        ledger: Ledger,
        *,
        token: str | None,
        on_retry: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        secrets: Iterable[str | Secret] = (),
    ) -> None:
        self.ledger = ledger
        self._token = token or None
        self.on_retry = on_retry
        self.clock = clock
        self._secrets = tuple(secrets)
        # Sessions ended by /logout, by nonce, until they would have expired anyway.
        self._ended: dict[str, float] = {}
        self.router = Router()
        self.router.add("GET", "/", self.page)
        self.router.add("POST", "/login", self.login)
        self.router.add("POST", "/logout", self.logout)
        self.router.add("POST", "/retry", self.retry)

    def __repr__(self) -> str:
        return f"Console(ledger={self.ledger!r}, enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        """Whether a token is configured."""
        return self._token is not None

    # --- sessions ---------------------------------------------------------------------------------
    def _mac(self, purpose: str, nonce: str) -> str:
        assert self._token is not None
        return hmac.new(self._token.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def _session(self, request: Request) -> str | None:
        """The session's nonce when the request carries a valid, unexpired, not ended session cookie."""
        cookie = SimpleCookie(request.header("cookie") or "")
        morsel = cookie.get(COOKIE)
        nonce, _, rest = (morsel.value if morsel else "").partition(".")
        issued, _, mac = rest.partition(".")
        if not nonce or not issued.isdigit() or not _same(mac, self._mac("session", f"{nonce}:{issued}")):
            return None
        # The cookie's Max-Age asks the browser to drop it; this holds even for a copied cookie.
        if self.clock() - int(issued) > SESSION_SECONDS or nonce in self._ended:
            return None
        return nonce

    def admit(self, request: Request) -> Response | None:
        """The refusal of a request before its body is read: a retry without a session or the token."""
        if request.method == "POST" and request.path.rstrip("/") in ("/retry", "/logout"):
            bearer = self._token is not None and bearer_matches(request.header("authorization"), self._token)
            if not bearer and (self._token is None or self._session(request) is None):
                return _forbidden()
        return None

    def _authorised(self, request: Request, form: Mapping[str, str]) -> bool:
        if self._token is None:
            return False
        if bearer_matches(request.header("authorization"), self._token):
            return True  # a browser never adds this header by itself, so no CSRF check is needed
        nonce = self._session(request)
        given = form.get("csrf", "")
        return nonce is not None and _same(given, self._mac("csrf", nonce))

    def _cookie(self, request: Request, value: str, max_age: int) -> str:
        # Secure when the browser came over https, directly or through a proxy saying so: then the
        # cookie never travels in the clear. A forged header only makes the forger's own cookie Secure.
        forwarded = (request.header("x-forwarded-proto") or "").split(",")[0].strip().lower()
        secure = "; Secure" if "https" in (request.scheme, forwarded) else ""
        return f"{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"

    # --- handlers ---------------------------------------------------------------------------------
    def login(self, request: Request) -> Response:
        """``POST /login`` with the token typed in a form: sets the session cookie."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if self._token is None or not _same(form.get("token", ""), self._token):
            return _html(401, _layout("Sign in", _login_form("That is not the token.")))
        nonce, issued = secrets.token_urlsafe(18), str(int(self.clock()))
        value = f"{nonce}.{issued}.{self._mac('session', f'{nonce}:{issued}')}"
        cookie = self._cookie(request, value, SESSION_SECONDS)
        return Response(303, None, (("Location", "/"), ("Set-Cookie", cookie)))

    def logout(self, request: Request) -> Response:
        """``POST /logout``: ends the session (here and in the browser) and shows the sign-in form."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if not self._authorised(request, form):
            return _forbidden()
        nonce = self._session(request)
        if nonce is not None:
            now = self.clock()
            self._ended = {n: t for n, t in self._ended.items() if t > now}
            self._ended[nonce] = now + SESSION_SECONDS
        return Response(303, None, (("Location", "/"), ("Set-Cookie", self._cookie(request, "", 0))))

    def retry(self, request: Request) -> Response:
        """``POST /retry`` with ``key`` (one dead letter), ``destination`` (all of its dead letters), or
        ``all`` (every dead batch and dead letter, as ``msgrelay relay --retry-dead``)."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if not self._authorised(request, form):
            return _forbidden()
        key, destination = form.get("key") or None, form.get("destination") or None
        everything = form.get("all") == "1"
        if key is None and destination is None and not everything:
            return _html(400, _layout("Nothing to retry", "<p>Give a key or a destination.</p>"))
        status = self.ledger.status(dead_sample=1000)
        chosen = [
            (d["source"], d["batch_id"])
            for d in status["dead_letters"]
            if (key is None or d["key"] == key) and (destination is None or d["destination"] == destination)
        ]
        if everything:
            chosen += [(b["source"], b["batch_id"]) for b in status["dead_batches"]]
        batches, revived = self.ledger.retry_dead(now=self.clock(), destination=destination, key=key)
        if self.on_retry is not None:
            for source, batch_id in sorted(set(chosen)):
                self.on_retry(source, batch_id)
        query = urlencode({"retried": revived, **({"batches": batches} if everything else {})})
        return Response(303, None, (("Location", f"/?{query}"),))

    def page(self, request: Request) -> Response:
        """``GET /``: the page, or the sign-in form."""
        if self._token is None:
            body = (
                "<p>The console is off. Set <code>MSGRELAY_API_TOKEN</code> and restart "
                "<code>msgrelay serve</code>.</p>"
            )
            return _html(200, _layout("msgrelay", body))
        nonce = self._session(request)
        if nonce is None and not bearer_matches(request.header("authorization"), self._token):
            return _html(200, _layout("Sign in", _login_form()))
        csrf = self._mac("csrf", nonce) if nonce else ""
        status = self.ledger.status(dead_sample=50)
        flash = request.query.get("retried")
        if flash is not None and "batches" in request.query:
            flash = f"{request.query['batches']} dead batch(es) and {flash}"
        return _html(200, _layout("msgrelay relay", self._body(status, csrf, flash)))

    # --- rendering --------------------------------------------------------------------------------
    def _error(self, text: Any) -> str:
        """An error text as shown: URLs without their credentials, no known secret, escaped."""
        shown = _URL.sub(lambda m: redact_url(m.group(0)), "" if text is None else str(text))
        return f'<span class="err">{_e(redact_text(shown, self._secrets))}</span>'

    def _body(self, status: Mapping[str, Any], csrf: str, flash: str | None) -> str:
        parts = []
        if flash is not None:
            parts.append(f'<section class="flash" id="flash">Retried {_e(flash)} dead letter(s).</section>')
        if csrf:
            parts.append(_logout(csrf))
        parts.append(_cards(status))
        parts.append(_destinations(status["by_destination"], csrf))
        now = self.clock()
        waiting = [
            [
                _e(f"{w['source']}/{w['batch_id']}"),
                _e(w["kind"]),
                _e(w["attempts"]),
                _e(_age(now - w["since"])),
                self._error(w["last_error"]),
            ]
            for w in self.ledger.waiting(limit=50)
        ]
        head = ["batch", "state", "attempts", "waiting", "last error"]
        parts.append(_table("Batches waiting for a webhook or being polled", "waiting", head, waiting))
        dead_batches = [
            [_e(f"{b['source']}/{b['batch_id']}"), _e(b["attempts"]), self._error(b["last_error"])]
            for b in status["dead_batches"]
        ]
        title = "Dead batches (given up by polling, or refused by the vendor)"
        if dead_batches:
            # The ledger re-drives dead batches together with every dead letter (`retry_dead`).
            title += " " + _button("Retry every dead batch and letter", csrf, all="1")
        parts.append(_table(title, "dead-batches", ["batch", "attempts", "last error"], dead_batches))
        dead = [
            [
                _e(d["destination"]),
                _e(f"{d['source']}/{d['batch_id']} · {d['item_id']}"),
                _e(d["attempts"]),
                self._error(d["last_error"]),
                _button("Retry", csrf, key=d["key"]),
            ]
            for d in status["dead_letters"]
        ]
        head = ["destination", "batch · item", "attempts", "last error", ""]
        parts.append(_table("Dead letters", "dead-letters", head, dead))
        hooks = status["hook_errors"]
        recent = [
            [_e(h["plugin"]), _e(h["hook"]), _e(h["subject"]), self._error(h["error"])]
            for h in hooks["recent"]
        ]
        title = f"Recent hook errors ({_e(hooks['count'])} in all)"
        parts.append(_table(title, "hook-errors", ["plugin", "hook", "subject", "error"], recent))
        return "".join(parts)


def _cards(status: Mapping[str, Any]) -> str:
    totals = status["deliveries"]
    cards = [("batches", sum(status["batches"].values()))]
    cards += [(state, totals.get(state, 0)) for state in ("pending", "claimed", "delivered", DEAD)]
    html_cards = "".join(
        f'<div class="card {"dead" if name == DEAD else ""}" id="count-{name}"><b>{count}</b>{name}</div>'
        for name, count in cards
    )
    return f'<div class="cards">{html_cards}</div>'


def _destinations(by_destination: Mapping[str, Mapping[str, int]], csrf: str) -> str:
    states = ["pending", "claimed", "delivered", DEAD]
    rows = []
    for name, counts in sorted(by_destination.items()):
        cells = [_e(name), *(f'<span data-state="{s}">{counts.get(s, 0)}</span>' for s in states)]
        dead = counts.get(DEAD, 0)
        cells.append(_button(f"Retry {dead} dead", csrf, destination=name) if dead else "")
        rows.append(cells)
    return _table("Deliveries by destination", "destinations", ["destination", *states, ""], rows)


def _forbidden() -> Response:
    return _html(403, _layout("Forbidden", "<p>Sign in again: the session or form expired.</p>"))


def _logout(csrf: str) -> str:
    csrf_field = f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
    button = '<button id="sign-out">Sign out</button>'
    return f'<form class="signout" method="post" action="/logout">{csrf_field}{button}</form>'


def _button(label: str, csrf: str, **fields: str) -> str:
    hidden = "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields.items())
    csrf_field = f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
    return f'<form method="post" action="/retry">{csrf_field}{hidden}<button>{_e(label)}</button></form>'


def _table(title: str, ident: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return f'<section id="{ident}"><h2>{title}</h2><p class="muted">None.</p></section>'
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<section id="{ident}"><h2>{title}</h2><table><tr>{header}</tr>{body}</table></section>'


def _login_form(problem: str = "") -> str:
    note = f'<p class="err">{_e(problem)}</p>' if problem else ""
    field = '<label>API token <input type="password" name="token" id="token" autocomplete="off"></label>'
    return (
        f'<section><h2>Sign in</h2>{note}<form method="post" action="/login">{field} '
        '<button id="sign-in">Sign in</button></form></section>'
    )


def _layout(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_CSS}</style></head><body>'
        f"<header><h1>{_e(title)}</h1><p>msgrelay operator console</p></header><main>{body}</main>"
        "</body></html>"
    )


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h {seconds % 3600 // 60}m"
        if seconds >= 3600
        else f"{seconds // 60}m {seconds % 60}s"
    )


def _html(status: int, page: str) -> Response:
    return Response(status, page, (("Cache-Control", "no-store"),), content_type="text/html; charset=utf-8")
