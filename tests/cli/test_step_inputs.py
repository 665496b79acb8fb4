"""``msgrelay step``: inputs that arrive as badly formed strings are bad input (exit 2), not tracebacks."""

from __future__ import annotations

import io

import pytest

from msgrelay.cli import main

ID = "5c0f8a2e-7d41-4b6a-9e3f-12ab34cd56ef"
GENERATE = (
    '"sequence": "connection_request", "customer_id": "c", "campaign_id": "k", "campaign_name": "n", '
    '"company_name": "Ledgerly", "company_url": "https://ledgerly.example.com", "notify_url": "http://127.0.0.1:9/h"'
)


@pytest.mark.parametrize(
    ("step", "stdin", "named"),
    [
        ("relay", f'{{"secure_request_id": "{ID}", "destinations": "[bad"}}', "destinations"),
        ("relay", f'{{"secure_request_id": "{ID}", "max_wait": "soon"}}', "max_wait"),
        ("relay", f'{{"secure_request_id": "{ID}", "max_wait": "nan"}}', "max_wait"),
        ("generate", '{"leads": "[{\\"external_prospect_id\\": ", ' + GENERATE + "}", "leads"),
        ("generate", '{"leads": "{\\"a\\": 1}", ' + GENERATE + "}", "leads"),
        ("generate", '{"leads": "[]", "sequence": "[1", ' + GENERATE.split(",", 1)[1] + "}", "sequence"),
    ],
)
def test_a_malformed_string_input_is_named_and_exits_2(
    step: str, stdin: str, named: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zapier and n8n send every value as a string: a bad one is refused by name, before any request."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["step", step]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert named in captured.err
    assert "Traceback" not in captured.err
