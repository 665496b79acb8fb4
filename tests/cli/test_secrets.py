"""Secrets never echo: global options anywhere, usage errors scrubbed, keys wrapped, causes clean."""

from __future__ import annotations

import pickle

import pytest

from msgrelay.cli import main
from msgrelay.collect import CollectClient
from msgrelay.errors import MsgrelayError
from msgrelay.sandbox import Sandbox
from msgrelay.sandbox.collect import SEED_REQUEST_ID
from msgrelay.transport import Secret, Transport
from msgrelay.transport.retry import NO_RETRIES
from msgrelay.upscale.client import UpscaleClient
from msgrelay.web.receiver import TokenVerifier

KEY = "sk-live-9f8e7d6c5b4a3210"


def _exit_and_stderr(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "credits", "--api-key", KEY],
        ["collect", "list", "req_1", "--api-key", KEY],
        ["upscale", "-v", "credits", "--api-key", KEY, "-v"],
    ],
    ids=["upscale-after", "collect-after", "verbose-both-sides"],
)
def test_the_global_options_work_after_the_command(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, argv: list[str]
) -> None:
    """``--api-key``/``--base-url``/``-v`` after the sub-command are accepted, not "unrecognized"."""
    base = sandbox.upscale_url if argv[0] == "upscale" else sandbox.collect_url
    code, _, err = _exit_and_stderr(capsys, *argv, "--base-url", base)
    assert "unrecognized arguments" not in err
    assert KEY not in err
    assert code in (0, 1)  # the sandbox refuses this key: an API failure, not a usage error


def test_the_key_after_the_command_is_the_one_sent(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    """``upscale credits --api-key K --base-url U`` calls U with K."""
    code, out, err = _exit_and_stderr(
        capsys, "upscale", "credits", "--api-key", sandbox.upscale_api_key, "--base-url", sandbox.upscale_url
    )
    assert (code, err) == (0, "")
    assert "remaining_credits" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["plugins", "--api-key", KEY],
        ["relay", "--pending", f"--api-key={KEY}"],
        ["sandbox", "--api", KEY],
        ["upscale", "credits", "--api-key", KEY, "--no-such-option"],
        ["upscale", "--api-key", KEY, "credits", KEY],
    ],
)
def test_no_usage_error_echoes_a_secret_option_s_value(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Every usage error shows REDACTED where the key was, and exits 2."""
    code, out, err = _exit_and_stderr(capsys, *argv)
    assert code == 2
    assert KEY not in out + err
    assert err.count("\n") == 2  # the usage line and the one error line


def test_vars_of_clients_auth_and_verifier_show_no_key(sandbox: Sandbox) -> None:
    """The key lives in a `Secret`: ``vars()`` (what debuggers and error trackers dump) never shows it."""
    upscale = UpscaleClient(KEY, sandbox.upscale_url)
    collect = CollectClient(api_key=KEY, base_url=sandbox.collect_url)
    verifier = TokenVerifier(KEY)
    objects: list[object] = [upscale, upscale.transport, upscale.transport.session.auth]
    objects += [collect, collect.transport, collect.transport.session.auth, verifier]
    dumped = " ".join(f"{vars(o)!r} {vars(o)!s} {o!r} {o!s}" for o in objects)
    upscale.close()
    collect.close()
    assert KEY not in dumped
    assert "REDACTED" in dumped


def test_a_secret_is_redacted_everywhere_but_reveal() -> None:
    """repr, str and format say REDACTED; equality holds; pickling is refused."""
    secret = Secret(KEY)
    assert KEY not in f"{secret!r} {secret} {secret:>30}"
    assert secret.reveal() == KEY
    assert secret == Secret(KEY)
    assert secret != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_the_keys_still_authenticate(sandbox: Sandbox) -> None:
    """Wrapped keys go on the wire as before: both sandbox APIs accept them."""
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url) as upscale:
        assert upscale.check_credits().remaining_credits >= 0
    with CollectClient(api_key=sandbox.collect_api_key, base_url=sandbox.collect_url) as collect:
        assert len(collect.list_messages(SEED_REQUEST_ID)) > 0


def test_a_transport_failure_carries_no_url_secret_in_its_chain() -> None:
    """Connection refused on a capability URL: no error in the chain (__context__, __cause__) holds the
    token."""
    token = "tok-0123456789abcdef"
    transport = Transport(base_url="http://127.0.0.1:9", auth=None, retry=NO_RETRIES)
    with pytest.raises(MsgrelayError) as caught:
        transport.request("GET", f"/hooks/{token}", params={"token": token})
    transport.close()
    chain: list[BaseException] = []
    exc: BaseException | None = caught.value
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    texts = " ".join(f"{e!s} {e!r}" for e in chain)
    assert "token=REDACTED" in texts
    assert f"token={token}" not in texts
    assert len(chain) == 1
