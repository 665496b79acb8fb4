"""`RelayReport`: what one relay run did, counted as it goes by the fan-out and the delivery steps."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["RelayReport"]


@attrs.define
class RelayReport:
    """What a relay run did.

    ``skipped`` counts leads a route's ``skip_empty`` recorded without delivering (no generated
    message). ``lost`` counts deliveries this worker claimed but no longer held when it came to deliver or
    record them: its lease had run out and another worker took them over, which delivers and records
    them (they are not in this report's ``delivered``, ``retried`` or ``dead``).
    """

    batches: int = 0
    leads: int = 0
    messages: int = 0
    skipped: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    batch_failures: int = 0
    hook_errors: int = 0
    errors: list[str] = attrs.field(factory=list)

    def note(self, error: str) -> None:
        """Keep the first few distinct errors for the summary."""
        if len(self.errors) < 10 and error not in self.errors:
            self.errors.append(error)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)
