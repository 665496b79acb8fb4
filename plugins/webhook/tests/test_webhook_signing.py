"""Standard Webhooks signatures: published test vectors, an independent HMAC, and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from msgrelay_webhook import (
    SigningSecret,
    WebhookVerificationError,
    generate_secret,
    sign,
    signature_header,
    verify,
)

BODY = b'{"type":"upscale.lead.messages_generated","data":{"external_prospect_id":"crm-000123"}}'
MSG_ID = "d_3f9a0c5b7e21d4a68c0b9e1f2a3d4c5b"
STAMP = 1768473000


def _headers(msg_id: str, stamp: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_reference_library_vector() -> None:
    """The vector of the standard-webhooks Python library's own test (``test_sign_function``)."""
    secret = SigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(
        secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_destinations_md_vector(secret_text: str) -> None:
    """The vector of destinations.md §3.3 (checked there against ``standardwebhooks`` 1.1.0)."""
    body = (
        b'{"type":"upscale.messages.generated","timestamp":"2026-01-15T10:30:00Z",'
        b'"data":{"external_prospect_id":"crm-000123"}}'
    )
    signature = sign(
        SigningSecret(secret_text), msg_id="msg_01HZX3K9Q7V2B8N4M6P0R5T1W", timestamp=STAMP, body=body
    )
    assert signature == "v1,BLX1WBuW1fHIStLlvYSryPB5nkG4h7f62Zpr4tN/zFA="


def test_signature_is_the_specs_hmac(secret_text: str) -> None:
    """The signature is base64(HMAC-SHA256(decoded secret, "{id}.{timestamp}.{body}")), computed here
    from the spec's definition alone."""
    key = base64.b64decode(secret_text.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{MSG_ID}.{STAMP}.".encode() + BODY, hashlib.sha256).digest())
    assert (
        sign(SigningSecret(secret_text), msg_id=MSG_ID, timestamp=STAMP, body=BODY)
        == "v1," + expected.decode()
    )


def test_verify_accepts_a_signed_request_and_returns_its_id(secret: SigningSecret) -> None:
    """A request signed with the secret verifies within the tolerance, and gives the id to dedupe on."""
    signature = sign(secret, msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    assert verify(BODY, _headers(MSG_ID, STAMP, signature), secret, now=lambda: STAMP + 299) == MSG_ID


def test_verify_reads_headers_in_any_case(secret: SigningSecret) -> None:
    """Header names are case-insensitive."""
    signature = sign(secret, msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    headers = {k.upper(): v for k, v in _headers(MSG_ID, STAMP, signature).items()}
    assert verify(BODY, headers, [secret], now=lambda: STAMP) == MSG_ID


@pytest.mark.parametrize(
    ("body", "msg_id", "stamp", "now", "match"),
    [
        (BODY + b" ", MSG_ID, STAMP, STAMP, "no matching"),
        (BODY, MSG_ID + "x", STAMP, STAMP, "no matching"),
        (BODY, MSG_ID, STAMP + 1, STAMP, "no matching"),
        (BODY, MSG_ID, STAMP, STAMP + 301, "tolerance"),
        (BODY, MSG_ID, STAMP, STAMP - 301, "tolerance"),
    ],
    ids=["body", "id", "timestamp", "stale", "future"],
)
def test_verify_rejects_anything_changed_or_out_of_time(
    secret: SigningSecret, body: bytes, msg_id: str, stamp: int, now: int, match: str
) -> None:
    """A changed body, id or timestamp, or a timestamp outside ±5 minutes, does not verify."""
    signature = sign(secret, msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    with pytest.raises(WebhookVerificationError, match=match):
        verify(body, _headers(msg_id, stamp, signature), secret, now=lambda: now)


def test_verify_rejects_another_secret(secret: SigningSecret) -> None:
    """A signature made with another secret does not verify."""
    signature = sign(SigningSecret(generate_secret()), msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, _headers(MSG_ID, STAMP, signature), secret, now=lambda: STAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_a_missing_header(secret: SigningSecret, missing: str) -> None:
    """Each of the three headers is required."""
    headers = _headers(MSG_ID, STAMP, sign(secret, msg_id=MSG_ID, timestamp=STAMP, body=BODY))
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(BODY, headers, secret, now=lambda: STAMP)


def test_verify_ignores_other_versions_and_garbage(secret: SigningSecret) -> None:
    """Signatures of another scheme (``v1a``, ``v2``) or malformed ones are skipped, not fatal."""
    good = sign(secret, msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    value = good.split(",", 1)[1]
    header = f"v1a,{value} v2,{value} v1,not-base64!! {good}"
    assert verify(BODY, _headers(MSG_ID, STAMP, header), secret, now=lambda: STAMP) == MSG_ID
    with pytest.raises(WebhookVerificationError):
        verify(BODY, _headers(MSG_ID, STAMP, f"v2,{value}"), secret, now=lambda: STAMP)


def test_rotation_signs_with_each_secret_and_either_verifies(secret: SigningSecret) -> None:
    """During a rotation the header carries one signature per secret; a receiver with either verifies."""
    new = SigningSecret(generate_secret())
    header = signature_header([secret, new], msg_id=MSG_ID, timestamp=STAMP, body=BODY)
    assert len(header.split(" ")) == 2
    for key in (secret, new):
        assert verify(BODY, _headers(MSG_ID, STAMP, header), key, now=lambda: STAMP) == MSG_ID


def test_secret_forms(secret_text: str) -> None:
    """The ``whsec_`` prefix is optional and missing base64 padding is tolerated, as in the reference
    libraries."""
    key = SigningSecret(secret_text).key
    assert key == b"upscale-test-secret-0123456789ab"
    assert SigningSecret(secret_text.removeprefix("whsec_")).key == key
    assert SigningSecret(secret_text.rstrip("=")).key == key
    assert SigningSecret(" " + secret_text + "\n") == SigningSecret(secret_text)


@pytest.mark.parametrize("text", ["whsec_", "whsec_not base64!", "   "])
def test_bad_secret_is_named_not_shown(text: str) -> None:
    """A malformed secret is reported by the name of its source, never by its text."""
    with pytest.raises(ValueError, match="MY_SECRET") as caught:
        SigningSecret(text, source="MY_SECRET")
    assert "base64!" not in str(caught.value)


@pytest.mark.parametrize(("size", "match"), [(1, "too short"), (23, "too short"), (65, "too long")])
def test_secret_outside_24_to_64_bytes_is_refused(size: int, match: str) -> None:
    """The spec's keys have 24 to 64 bytes; a shorter (weak) or longer key is refused, the text not shown."""
    text = "whsec_" + base64.b64encode(b"\x07" * size).decode()
    with pytest.raises(ValueError, match=f"MY_SECRET is {match}.*24 to 64") as caught:
        SigningSecret(text, source="MY_SECRET")
    assert text.removeprefix("whsec_").rstrip("=") not in str(caught.value)


@pytest.mark.parametrize("size", [24, 64])
def test_secret_of_24_and_64_bytes_is_accepted(size: int) -> None:
    """Both ends of the range are valid (the reference library's test vector has a 24-byte key)."""
    assert len(SigningSecret("whsec_" + base64.b64encode(b"\x07" * size).decode()).key) == size
    assert len(SigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").key) == 24


def test_secret_repr_hides_it(secret: SigningSecret, secret_text: str) -> None:
    """Neither the written secret nor the key shows in a repr."""
    shown = repr(secret) + str(secret) + repr([secret])
    assert secret_text.removeprefix("whsec_") not in shown
    assert "upscale-test-secret" not in shown


def test_id_with_a_dot_cannot_be_signed(secret: SigningSecret) -> None:
    """The id is a field of the signed content, so it may not contain the separator."""
    with pytest.raises(ValueError, match=r"'\.'"):
        sign(secret, msg_id="a.b", timestamp=STAMP, body=BODY)


def test_generated_secret_has_the_written_form() -> None:
    """A generated secret is ``whsec_`` + base64 of 32 random bytes by default; sizes other than 24..64
    are refused."""
    text = generate_secret()
    assert text.startswith("whsec_")
    assert len(SigningSecret(text).key) == 32
    assert text != generate_secret()
    with pytest.raises(ValueError, match="24 to 64"):
        generate_secret(16)
