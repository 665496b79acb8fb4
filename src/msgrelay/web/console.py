"""The operator console: ``GET /``, one server-rendered page of what the relay holds, with retry buttons.

The page shows counts by state and destination, batches waiting for a webhook or being polled, dead
letters with their last error, and recent hook errors. ``POST /retry`` re-drives one dead letter (by
its delivery key) or a whole destination's.

Access needs ``MSGRELAY_API_TOKEN``: an operator signs in once by typing it (``POST /login``) and gets a
session cookie that is an HMAC of a random nonce under the token (never the token itself; HttpOnly,
SameSite=Strict); a script sends ``Authorization: Bearer``. Every form carries a CSRF token derived from
the session, checked in constant time. Without a token configured, the page says how to turn it on.
Nothing secret is rendered: the ledger holds no keys, and texts are escaped.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from msgrelay.ledger.base import DEAD, Ledger
from msgrelay.web.routing import Request, Response, Router
from msgrelay.web.steps_api import bearer_matches

__all__ = ["COOKIE", "Console"]

COOKIE = "msgrelay_session"
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
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


class Console:
    """The console's handlers, on the shared `Router`.

    Args:
        ledger: what the page shows and the retry buttons act on.
        token: ``MSGRELAY_API_TOKEN``; None turns the console off.
        on_retry: called with ``(source, batch_id)`` after a dead letter is revived, to nudge the
            relay (``RelayWorker.submit``); a destination's rows are picked up by the next sweep.
        clock: epoch seconds, for ages on the page.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        token: str | None,
        on_retry: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self._token = token or None
        self.on_retry = on_retry
        self.clock = clock
        self.router = Router()
        self.router.add("GET", "/", self.page)
        self.router.add("POST", "/login", self.login)
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
        """The session's nonce when the request carries a valid session cookie."""
        cookie = SimpleCookie(request.header("cookie") or "")
        morsel = cookie.get(COOKIE)
        nonce, _, mac = (morsel.value if morsel else "").partition(".")
        if not nonce or not hmac.compare_digest(mac, self._mac("session", nonce)):
            return None
        return nonce

    def _authorised(self, request: Request, form: Mapping[str, str]) -> bool:
        if self._token is None:
            return False
        if bearer_matches(request.header("authorization"), self._token):
            return True  # a browser never adds this header by itself, so no CSRF check is needed
        nonce = self._session(request)
        given = form.get("csrf", "")
        return nonce is not None and hmac.compare_digest(given, self._mac("csrf", nonce))

    # --- handlers ---------------------------------------------------------------------------------
    def login(self, request: Request) -> Response:
        """``POST /login`` with the token typed in a form: sets the session cookie."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if self._token is None or not hmac.compare_digest(
            form.get("token", "").encode(), self._token.encode()
        ):
            return _html(401, _layout("Sign in", _login_form("That is not the token.")))
        nonce = secrets.token_urlsafe(18)
        cookie = f"{COOKIE}={nonce}.{self._mac('session', nonce)}; HttpOnly; SameSite=Strict; Path=/"
        return Response(303, None, (("Location", "/"), ("Set-Cookie", cookie)))

    def retry(self, request: Request) -> Response:
        """``POST /retry`` with ``key`` (one dead letter) or ``destination`` (all of its dead letters)."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if not self._authorised(request, form):
            return _html(403, _layout("Forbidden", "<p>Sign in again: the session or form expired.</p>"))
        key, destination = form.get("key") or None, form.get("destination") or None
        if key is None and destination is None:
            return _html(400, _layout("Nothing to retry", "<p>Give a key or a destination.</p>"))
        dead = self.ledger.status(dead_sample=1000)["dead_letters"]
        chosen = [
            d
            for d in dead
            if (key is None or d["key"] == key) and (destination is None or d["destination"] == destination)
        ]
        _, revived = self.ledger.retry_dead(now=self.clock(), destination=destination, key=key)
        if self.on_retry is not None:
            for source, batch_id in sorted({(d["source"], d["batch_id"]) for d in chosen}):
                self.on_retry(source, batch_id)
        query = urlencode({"retried": revived})
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
        return _html(200, _layout("msgrelay relay", self._body(status, csrf, flash)))

    # --- rendering --------------------------------------------------------------------------------
    def _body(self, status: Mapping[str, Any], csrf: str, flash: str | None) -> str:
        parts = []
        if flash is not None:
            parts.append(f'<section class="flash" id="flash">Retried {_e(flash)} dead letter(s).</section>')
        parts.append(_cards(status))
        parts.append(_destinations(status["by_destination"], csrf))
        now = self.clock()
        waiting = [
            [
                _e(f"{w['source']}/{w['batch_id']}"),
                _e(w["kind"]),
                _e(w["attempts"]),
                _e(_age(now - w["since"])),
                _error(w["last_error"]),
            ]
            for w in self.ledger.waiting(limit=50)
        ]
        head = ["batch", "state", "attempts", "waiting", "last error"]
        parts.append(_table("Batches waiting for a webhook or being polled", "waiting", head, waiting))
        dead = [
            [
                _e(d["destination"]),
                _e(f"{d['source']}/{d['batch_id']} · {d['item_id']}"),
                _e(d["attempts"]),
                _error(d["last_error"]),
                _button("Retry", csrf, key=d["key"]),
            ]
            for d in status["dead_letters"]
        ]
        head = ["destination", "batch · item", "attempts", "last error", ""]
        parts.append(_table("Dead letters", "dead-letters", head, dead))
        hooks = status["hook_errors"]
        recent = [
            [_e(h["plugin"]), _e(h["hook"]), _e(h["subject"]), _error(h["error"])] for h in hooks["recent"]
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


def _error(text: Any) -> str:
    return f'<span class="err">{_e(text)}</span>'


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
