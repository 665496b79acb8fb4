"""Idempotent generation requests against the sandbox, counting the POSTs it received."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import orjson
import pytest

from msgrelay import errors
from msgrelay.cli import main
from msgrelay.ledger import SQLiteLedger
from msgrelay.relay.submit import SubmissionInDoubtError, record_submission, submission_key, submit_once
from msgrelay.sandbox import Sandbox
from msgrelay.sandbox.faults import Fault
from msgrelay.testing import make_request
from msgrelay.upscale.client import UpscaleClient

GENERATE = "/messages/request_message_generation"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SQLiteLedger]:
    with SQLiteLedger(tmp_path / "ledger.sqlite3") as opened:
        yield opened


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[UpscaleClient]:
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as opened:
        yield opened


def test_the_same_request_twice_sends_one_post(
    sandbox: Sandbox, client: UpscaleClient, ledger: SQLiteLedger
) -> None:
    """The second call returns the stored ticket without reaching the vendor."""
    first = submit_once(client, make_request(3), ledger=ledger)
    second = submit_once(client, make_request(3), ledger=ledger)
    assert second.secure_request_id == first.secure_request_id
    assert sandbox.upscale.generation_posts == 1


def test_the_key_ignores_lead_order_but_not_the_sequence() -> None:
    """Sorted lead ids: the same leads in another order are the same request; other types are not."""
    request = make_request(3)
    reordered = attrs.evolve(request, lead_data=tuple(reversed(request.lead_data)))
    assert submission_key(reordered) == submission_key(request)
    assert submission_key(make_request(3, message_types=["connection_request"])) != submission_key(request)
    assert submission_key(make_request(3, prefix="other")) != submission_key(request)


def test_a_different_request_is_sent(sandbox: Sandbox, client: UpscaleClient, ledger: SQLiteLedger) -> None:
    """Other leads make another key, hence another POST."""
    submit_once(client, make_request(2), ledger=ledger)
    submit_once(client, make_request(2, prefix="more"), ledger=ledger)
    assert sandbox.upscale.generation_posts == 2


def test_an_unknown_outcome_is_never_resent_silently(sandbox: Sandbox, ledger: SQLiteLedger) -> None:
    """A POST that timed out after reaching the vendor leaves the row without an id: the re-run raises
    an error that says how to check and how to force, and sends nothing."""
    sandbox.inject(Fault("POST", GENERATE, delay=1.0))
    slow = UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, timeout=(5.0, 0.2), trust_env=False)
    with slow, pytest.raises(errors.TimeoutError):
        submit_once(slow, make_request(2), ledger=ledger)
    assert sandbox.upscale.generation_posts == 1
    with UpscaleClient(sandbox.upscale_api_key, sandbox.upscale_url, trust_env=False) as client:
        with pytest.raises(SubmissionInDoubtError) as caught:
            submit_once(client, make_request(2), ledger=ledger)
        message = str(caught.value)
        assert "outcome is unknown" in message
        assert "msgrelay upscale credits" in message
        assert "--force" in message
        assert not caught.value.in_flight
        assert sandbox.upscale.generation_posts == 1
        forced = submit_once(client, make_request(2), ledger=ledger, force=True)
        assert sandbox.upscale.generation_posts == 2
        assert (
            submit_once(client, make_request(2), ledger=ledger).secure_request_id == forced.secure_request_id
        )
    assert sandbox.upscale.generation_posts == 2


def test_a_rejected_request_can_be_sent_again(sandbox: Sandbox, ledger: SQLiteLedger) -> None:
    """A 402 (nothing generated, nothing charged) drops the reservation, so a retry really sends."""
    with (
        Sandbox(credits=1, seconds_per_message=0.001) as poor,
        UpscaleClient(poor.upscale_api_key, poor.upscale_url, trust_env=False) as client,
    ):
        with pytest.raises(errors.InsufficientCreditsError):
            submit_once(client, make_request(3), ledger=ledger)
        assert ledger.get_submission(submission_key(make_request(3))) is None
        with pytest.raises(errors.InsufficientCreditsError):
            submit_once(client, make_request(3), ledger=ledger)
        assert poor.upscale.generation_posts == 2


def test_invalid_input_is_refused_before_any_reservation(client: UpscaleClient, ledger: SQLiteLedger) -> None:
    """The client's validation fails before sending; no row is left behind."""
    bad = attrs.evolve(make_request(1), proposition_company_url="not a url")
    with pytest.raises(errors.ValidationError):
        submit_once(client, bad, ledger=ledger)
    assert ledger.get_submission(submission_key(bad)) is None


def test_a_submission_in_flight_in_another_process_is_named(
    client: UpscaleClient, ledger: SQLiteLedger
) -> None:
    """A row held by a live process on this machine says "being sent right now", not "unknown"."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        request = make_request(2)
        ledger.reserve_submission(
            submission_key(request, account=client.account),
            customer_id="test-customer",
            campaign_id="test-campaign",
            lead_count=2,
            message_types="connection_request,first_follow_up",
            owner=f"{socket.gethostname()}:{sleeper.pid}:x",
            now=0.0,
        )
        with pytest.raises(SubmissionInDoubtError, match="being sent right now") as caught:
            submit_once(client, request, ledger=ledger)
        assert caught.value.in_flight
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_found_id_can_be_recorded(sandbox: Sandbox, client: UpscaleClient, ledger: SQLiteLedger) -> None:
    """Once the user finds the id of an in-doubt submission, recording it makes re-runs return it."""
    record_submission(
        make_request(2), "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef", ledger=ledger, account=client.account
    )
    ticket = submit_once(client, make_request(2), ledger=ledger)
    assert ticket.secure_request_id == "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef"
    assert sandbox.upscale.generation_posts == 0


def _generate_wired() -> bool:
    import msgrelay.cli.upscale as cli_upscale

    return "submit_once" in Path(cli_upscale.__file__).read_text()


@pytest.mark.skipif(not _generate_wired(), reason="msgrelay upscale generate is not wired to submit_once yet")
def test_running_the_same_generate_command_twice_sends_one_post(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``msgrelay upscale generate`` twice with the same leads: one POST, the same id printed twice."""
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "external_prospect_id,linkedin,first_name,lead_company\n"
        "crm-1,https://www.linkedin.com/in/ada-example/,Ada,Example Labs\n"
    )
    argv = [
        "upscale", "--api-key", sandbox.upscale_api_key, "--base-url", sandbox.upscale_url,
        "generate", "--leads", str(leads), "--customer-id", "c1", "--campaign-id", "k1",
        "--campaign-name", "K", "--company-name", "Acme", "--company-url", "https://acme.example.com",
        "--sequence", "connection_request", "--notify-url", "https://relay.example.com/webhooks/upscale",
    ]  # fmt: skip
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert first == second
    assert sandbox.upscale.generation_posts == 1


def test_the_same_command_against_another_server_is_sent_there(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The account is part of the identity: generate against sandbox A, then B: B receives a POST;
    A's identical re-run reuses its id with one stderr line."""
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "external_prospect_id,linkedin,first_name,lead_company\n"
        "crm-1,https://www.linkedin.com/in/ada-example/,Ada,Example Labs\n"
    )

    def argv(target: Sandbox, *extra: str) -> list[str]:
        return [
            "upscale", "--api-key", target.upscale_api_key, "--base-url", target.upscale_url,
            "generate", "--leads", str(leads), "--customer-id", "c1", "--campaign-id", "k1",
            "--campaign-name", "K", "--company-name", "Acme", "--company-url", "https://acme.example.com",
            "--sequence", "connection_request", "--notify-url", "https://relay.example.com/webhooks/upscale",
            *extra,
        ]  # fmt: skip

    with Sandbox(seconds_per_message=0.001) as other:
        assert main(argv(sandbox)) == 0
        first = orjson.loads(capsys.readouterr().out)["secure_request_id"]
        assert main(argv(other)) == 0
        assert other.upscale.generation_posts == 1
        capsys.readouterr()
        assert main(argv(sandbox)) == 0
        again = capsys.readouterr()
        assert orjson.loads(again.out)["secure_request_id"] == first
        assert again.err.startswith(f"msgrelay: reusing submission {first} from ")
        assert len(again.err.splitlines()) == 1
        assert sandbox.upscale.generation_posts == 1

        assert main(argv(sandbox, "--campaign-name", "Corrected")) == 2
        err = capsys.readouterr().err
        assert "automation_tool_campaign_name" in err
        assert "--force" in err
        assert "de-duplicates by lead id" in err
        assert len(err.strip().splitlines()) == 1
        assert sandbox.upscale.generation_posts == 1
        assert main(argv(sandbox, "--campaign-name", "Corrected", "--force")) == 0
        assert sandbox.upscale.generation_posts == 2


def test_a_changed_lead_field_is_named_by_its_wire_path(client: UpscaleClient, ledger: SQLiteLedger) -> None:
    """The Python API raises the typed error naming ``lead_data[i].field``, and sends nothing."""
    request = make_request(3)
    submit_once(client, request, ledger=ledger)
    leads = list(request.lead_data)
    leads[1] = attrs.evolve(leads[1], first_name="Changed", extra={"email": "new@example.org"})
    with pytest.raises(errors.SubmissionChangedError) as caught:
        submit_once(client, attrs.evolve(request, lead_data=leads, signoff_name="Bo"), ledger=ledger)
    assert caught.value.paths == ["signoff_name", "lead_data[1].email", "lead_data[1].first_name"]
    assert isinstance(caught.value, errors.ValidationError)


def test_the_steps_generate_reports_reuse_and_refuses_a_change(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``generate`` step answers a re-run alike, and refuses a changed one with the typed error."""
    from msgrelay import steps

    monkeypatch.setenv("UPSCALE_API_KEY", sandbox.upscale_api_key)
    monkeypatch.setenv("UPSCALE_BASE_URL", sandbox.upscale_url)
    inputs = {
        "leads": [{"external_prospect_id": "s-1", "linkedin": "https://www.linkedin.com/in/s1",
                   "first_name": "S", "lead_company": "Acme"}],
        "sequence": "connection_request", "customer_id": "c", "campaign_id": "k", "campaign_name": "K",
        "company_name": "Acme", "company_url": "https://acme.example.com", "notify_url": "https://x.example.com/h",
    }  # fmt: skip
    first = steps.run_step("generate", inputs)
    assert steps.run_step("generate", inputs) == first
    with pytest.raises(errors.SubmissionChangedError, match="automation_tool_campaign_name"):
        steps.run_step("generate", {**inputs, "campaign_name": "Other"})
    assert sandbox.upscale.generation_posts == 1


def test_a_submission_recorded_before_the_account_was_in_the_key_is_not_paid_again(
    sandbox: Sandbox, client: UpscaleClient, ledger: SQLiteLedger
) -> None:
    """A ledger from before key version 2 (no account in the key): the same request after the upgrade
    returns the recorded id and sends nothing."""
    request = make_request(2)
    # The key recipe of key version 1, as an older msgrelay wrote it.
    material = orjson.dumps(
        [
            1,
            request.automation_tool_customer_id,
            request.automation_tool_campaign_id,
            sorted(lead.external_prospect_id for lead in request.lead_data),
            list(request.message_types),
        ]
    )
    old_key = "s_" + hashlib.sha256(material).hexdigest()[:40]
    ledger.reserve_submission(
        old_key,
        customer_id=request.automation_tool_customer_id,
        campaign_id=request.automation_tool_campaign_id,
        lead_count=2,
        message_types=",".join(request.message_types),
        owner="old:1:x",
        now=1.0,
    )
    ledger.complete_submission(old_key, "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef", now=2.0)
    reused: list[str] = []
    ticket = submit_once(client, request, ledger=ledger, on_reuse=lambda row: reused.append(row.key))
    assert ticket.secure_request_id == "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef"
    assert reused == [old_key]
    assert sandbox.upscale.generation_posts == 0
    forced = submit_once(client, request, ledger=ledger, force=True)
    assert forced.secure_request_id != ticket.secure_request_id
    assert sandbox.upscale.generation_posts == 1


def test_the_ledger_keeps_no_webhook_secret(client: UpscaleClient, ledger: SQLiteLedger) -> None:
    """The notify URL's token (the receiver's secret) is redacted before the request is recorded."""
    request = attrs.evolve(
        make_request(1),
        completion_notification_url="https://relay.example.com/webhooks/upscale?token=s3cr3t-tok",
    )
    ticket = submit_once(client, request, ledger=ledger)
    row = ledger.submission_for_batch(ticket.secure_request_id)
    assert row is not None
    assert row.request is not None
    assert "s3cr3t-tok" not in row.request
    assert "token=REDACTED" in row.request
    again = submit_once(client, request, ledger=ledger)  # the redacted form still matches
    assert again.secure_request_id == ticket.secure_request_id
