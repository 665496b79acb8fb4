"""Standard Webhooks v1 signatures (symmetric): sign what we send, verify what a receiver gets.

The scheme (https://github.com/standard-webhooks/standard-webhooks, ``spec/standard-webhooks.md``):

- the secret is written ``whsec_`` + base64(24 to 64 random bytes); the HMAC key is the decoded bytes;
- the signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"`` (the body exactly as sent);
- ``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key, content)); several signatures are
  separated by spaces, so a secret can be rotated without a gap;
- a receiver compares in constant time, accepts a timestamp within ±5 minutes, and drops a
  ``webhook-id`` it has already processed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from msgrelay.errors import MsgrelayError

__all__ = [
    "SECRET_PREFIX",
    "TOLERANCE",
    "WEBHOOK_ID",
    "WEBHOOK_SIGNATURE",
    "WEBHOOK_TIMESTAMP",
    "SigningSecret",
    "WebhookVerificationError",
    "generate_secret",
    "sign",
    "signature_header",
    "verify",
]

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
#: The prefix of a symmetric secret's written form.
SECRET_PREFIX = "whsec_"
#: How far a ``webhook-timestamp`` may be from the receiver's clock, in seconds (the spec's 5 minutes).
TOLERANCE = 300.0
#: The key sizes the spec allows, in bytes.
_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64
_VERSION = "v1"
_KEY_SIZE = f"base64 of {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} random bytes"


class WebhookVerificationError(MsgrelayError):
    """A request's Standard Webhooks headers do not verify: missing, stale, or no matching signature."""


class SigningSecret:
    """A symmetric signing key. Its text never appears in a repr, a log line or an exception.

    Args:
        text: ``whsec_`` + base64 of the key bytes (the prefix is optional, padding may be omitted,
            as the reference libraries accept).
        source: what to name in an error about the text (an environment variable, say).

    Raises:
        ValueError: the text is empty, not base64, or its key is not 24 to 64 bytes long; the message
            names ``source``, never the text.
    """

    __slots__ = ("_key", "_text")

    def __init__(self, text: str, *, source: str = "the signing secret") -> None:
        stripped = text.strip()
        encoded = stripped.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"{source} is not a Standard Webhooks secret: expected whsec_ followed by base64"
            ) from None
        if not key:
            raise ValueError(f"{source} is empty: expected whsec_ followed by {_KEY_SIZE}")
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"{source} is too short: expected whsec_ followed by {_KEY_SIZE}")
        if len(key) > _MAX_KEY_BYTES:
            raise ValueError(f"{source} is too long: expected whsec_ followed by {_KEY_SIZE}")
        self._key = key
        self._text = stripped

    @property
    def key(self) -> bytes:
        """The HMAC key: the decoded bytes after ``whsec_``."""
        return self._key

    def reveal(self) -> str:
        """The secret as it was written (to hand to a receiver's configuration, never to a log)."""
        return self._text

    def __repr__(self) -> str:
        return "SigningSecret('whsec_***')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningSecret) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._key).digest())


def generate_secret(nbytes: int = 32) -> str:
    """A new secret in its written form, ``whsec_`` + base64 of ``nbytes`` random bytes (24 to 64)."""
    if not _MIN_KEY_BYTES <= nbytes <= _MAX_KEY_BYTES:
        raise ValueError(f"a Standard Webhooks secret has {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def _content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    if "." in msg_id or not msg_id:
        raise ValueError(f"a webhook id must be non-empty and must not contain '.', got {msg_id!r}")
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(secret: SigningSecret, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64 HMAC-SHA256>``, over ``{msg_id}.{timestamp}.{body}``.

    Args:
        secret: the key.
        msg_id: the ``webhook-id`` value.
        timestamp: the ``webhook-timestamp`` value, whole seconds since the epoch.
        body: the exact bytes sent as the request body.
    """
    digest = hmac.new(secret.key, _content(msg_id, timestamp, body), hashlib.sha256).digest()
    return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[SigningSecret], *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated (for rotation)."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    return " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: SigningSecret | Iterable[SigningSecret],
    *,
    tolerance: float = TOLERANCE,
    now: Callable[[], float] = time.time,
) -> str:
    """Check a received request as a Standard Webhooks receiver must; returns its ``webhook-id``.

    Args:
        body: the raw request body, exactly as received (never re-serialised JSON).
        headers: the request headers (any case).
        secrets: the endpoint's secret, or several while one is being rotated.
        tolerance: the largest accepted distance between ``webhook-timestamp`` and ``now()``, seconds.
        now: the receiver's clock.

    Returns:
        The ``webhook-id``: the key to drop a repeated delivery by.

    Raises:
        WebhookVerificationError: a header is missing or malformed, the timestamp is outside the
            tolerance, or no ``v1`` signature matches any secret.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get(WEBHOOK_ID, "").strip()
    stamp = lower.get(WEBHOOK_TIMESTAMP, "").strip()
    signatures = lower.get(WEBHOOK_SIGNATURE, "").strip()
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (stamp.isascii() and stamp.isdigit()):
        raise WebhookVerificationError("webhook-timestamp is not whole seconds since the epoch")
    timestamp = int(stamp)
    if abs(now() - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (replayed or clock skew)")
    keys = [secrets] if isinstance(secrets, SigningSecret) else list(secrets)
    try:
        expected = [
            base64.b64decode(sign(k, msg_id=msg_id, timestamp=timestamp, body=body).split(",", 1)[1])
            for k in keys
        ]
    except ValueError:
        raise WebhookVerificationError("webhook-id must not contain '.'") from None
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != _VERSION:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Check against every key without an early exit per key, so timing says nothing about which.
        if any([hmac.compare_digest(given, e) for e in expected]):  # noqa: C419
            return msg_id
    raise WebhookVerificationError("no matching v1 signature")
