"""An Upscale batch's fan-out in chunks: memory bounded by a chunk, not by the batch.

A 100,000-lead batch is folded through ``transform_lead``, announced to ``on_message_fetched`` and
serialised a chunk of `FAN_OUT_CHUNK` leads at a time (`fold_in_chunks`). The serialised items go
to an `ItemSpool`: in memory while small, then an anonymous temporary file, read back one item at a
time by the ledger's one fan-out transaction. Spooling, rather than handing the ledger a generator
that runs the hooks, keeps plugin code out of that transaction: SQLite's write lock is held for the
inserts only, as before, not for as long as the hooks take.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import attrs
import orjson

from msgrelay.ledger.base import in_chunks
from msgrelay.upscale.convert import unstructure_lead
from msgrelay.upscale.models import Lead, RetrieveResult

__all__ = [
    "FAN_OUT_CHUNK",
    "SPOOL_IN_MEMORY",
    "ItemIds",
    "ItemSpool",
    "complete_messages",
    "fold_in_chunks",
    "is_empty",
]

#: Leads folded, announced and serialised together.
FAN_OUT_CHUNK = 1000
#: Bytes of serialised items kept in memory before the spool moves to a temporary file.
SPOOL_IN_MEMORY = 1 << 20


def complete_messages(result: RetrieveResult) -> Iterator[Lead]:
    """Each lead with every requested message type present (None where nothing was generated)."""
    types = result.message_types
    return (
        lead
        if all(t in lead.messages for t in types)
        else attrs.evolve(lead, messages=result.messages_of(lead))
        for lead in result.leads
    )


def is_empty(lead: Lead) -> bool:
    """No message was generated for the lead (every requested type is None)."""
    return all(text is None for text in lead.messages.values())


def fold_in_chunks(
    leads: Iterable[Lead], fold: Callable[[list[Lead]], list[Lead]], *, chunk: int = FAN_OUT_CHUNK
) -> Iterator[list[Lead]]:
    """``fold`` applied to ``leads`` a chunk at a time, in order: each folded chunk in turn."""
    return (fold(part) for part in in_chunks(leads, chunk))


class ItemIds:
    """Item ids in batch order: a lead's id, suffixed when seen before, so neither lead is dropped."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, lead: Lead) -> str:
        """The item id of the next lead of the batch."""
        item_id = lead.external_prospect_id
        count = self._seen.get(item_id, 0)
        self._seen[item_id] = count + 1
        return f"{item_id}#{count + 1}" if count else item_id


class ItemSpool:
    """``(item_id, payload JSON)`` pairs written once, then read back once, in order.

    Args:
        in_memory: bytes held in memory before the spool moves to an anonymous temporary file
            (owner-only and unlinked at once, so it vanishes with the process).
    """

    def __init__(self, *, in_memory: int = SPOOL_IN_MEMORY) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=in_memory)  # noqa: SIM115
        self.count = 0

    def add(self, item_id: str, lead: Lead) -> None:
        """Serialise ``lead`` as the item ``item_id``."""
        # One line per item: orjson escapes tabs and newlines inside strings, so both split safely.
        payload = orjson.dumps(unstructure_lead(lead), default=str)
        self._file.write(orjson.dumps(item_id) + b"\t" + payload + b"\n")
        self.count += 1

    def items(self) -> Iterator[tuple[str, str]]:
        """Every item added, in order, read one line at a time."""
        self._file.seek(0)
        for line in self._file:
            item_id, payload = line.rstrip(b"\n").split(b"\t", 1)
            yield orjson.loads(item_id), payload.decode()

    def close(self) -> None:
        """Drop what was spooled."""
        self._file.close()

    def __enter__(self) -> ItemSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
