"""The public surface of ``msgrelay.collect`` and its recordings."""

from __future__ import annotations

from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

import msgrelay.collect
from tests.conftest import CASSETTES


def test_all_lists_exactly_the_public_names() -> None:
    """Every name in ``__all__`` exists, and every public name imported into the package is listed."""
    public = {name for name in vars(msgrelay.collect) if name[0].isalpha()}
    modules = {"client", "convert", "drafts", "message_codec", "models", "timestamps", "validation"}
    assert set(msgrelay.collect.__all__) == public - modules
    assert msgrelay.collect.__all__ == sorted(msgrelay.collect.__all__, key=lambda n: (not n.isupper(), n))


def test_every_collect_cassette_sent_auth_and_kept_it_redacted() -> None:
    """Each recorded request carried an Authorization header, and the cassette holds only REDACTED."""
    paths = sorted((CASSETTES / "collect").rglob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        recorded, _ = deserialize(path.read_text(), yamlserializer)
        assert recorded, path
        for request in recorded:
            headers = {k.lower(): v for k, v in request.headers.items()}
            assert headers["authorization"] == "REDACTED", path
            assert request.uri.startswith("http://collect.cassette/v1/"), path
