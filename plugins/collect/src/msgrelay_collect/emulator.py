"""The vendor emulator for the demo and the tests: msgrelay's own sandbox, whose Collect half emulates
the API as the contract describes it (Basic auth, the message endpoints, documented errors, scripted
faults with ``sandbox.inject(Fault(...))``). There is no second Collect emulator.

``msgrelay demo --to collect`` (when ``COLLECT_BASE_URL`` is not set) starts `CollectEmulator`, points
the destination at it with `CollectEmulator.settings`, and prints `CollectEmulator.received`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from msgrelay import CollectClient
from msgrelay.collect import encode
from msgrelay.config import COLLECT_API_KEY, COLLECT_BASE_URL
from msgrelay.sandbox import SEED_REQUEST_ID, Sandbox
from msgrelay_collect.compose import MARKER_PREFIX
from msgrelay_collect.settings import MSGRELAY_COLLECT_REQUEST_ID

__all__ = ["CollectEmulator", "running_emulator"]


class CollectEmulator:
    """A running sandbox seen as the Collect destination's vendor (a `msgrelay.destinations.DemoEmulator`).

    Args:
        sandbox: the running sandbox.
        request_id: the request the demo writes into (the sandbox's seeded one by default).
    """

    def __init__(self, sandbox: Sandbox, *, request_id: str = SEED_REQUEST_ID) -> None:
        self.sandbox = sandbox
        self.request_id = request_id

    @property
    def settings(self) -> Mapping[str, str]:
        """The environment that points the ``collect`` destination at this sandbox."""
        return {
            COLLECT_BASE_URL: self.sandbox.collect_url,
            COLLECT_API_KEY: self.sandbox.collect_api_key,
            MSGRELAY_COLLECT_REQUEST_ID: self.request_id,
        }

    def received(self) -> list[dict[str, Any]]:
        """The messages msgrelay wrote into the sandbox's requests (the ones carrying a marker), oldest
        first, in Collect's wire shape."""
        found: list[dict[str, Any]] = []
        with CollectClient(self.sandbox.collect_api_key, self.sandbox.collect_url, trust_env=False) as client:
            for message in reversed(client.list_messages(self.request_id)):
                wire = encode(message)
                if any(MARKER_PREFIX in str(wire.get(k) or "") for k in ("title", "text", "body")):
                    found.append(wire)
        return found


@contextmanager
def running_emulator(*, request_id: str = SEED_REQUEST_ID) -> Iterator[CollectEmulator]:
    """A sandbox on 127.0.0.1 (a free port), stopped on exit, seen as a `CollectEmulator`."""
    with Sandbox(webhook_delivery=False) as sandbox:
        yield CollectEmulator(sandbox, request_id=request_id)
