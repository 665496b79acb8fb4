"""Worker identities in the ledger's claims, and whether the worker behind one is still alive.

An owner is ``host:pid:random``. A claim whose owner ran on this host and whose process is gone is
released at once (`Ledger.release_orphans`); on another host only the claim's lease tells.
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["new_owner", "owner_is_dead", "owner_state"]


def new_owner() -> str:
    """A worker identity: ``host:pid:random``; the host and pid tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_state(owner: str) -> str:
    """``"self"`` (this process), ``"alive"`` or ``"dead"`` (another process on this host), or
    ``"unknown"`` (another host: only its lease tells)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return "unknown"
    pid = int(pid_text)
    if pid == os.getpid():
        return "self"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:  # alive, another user's
        return "alive"
    return "alive"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner ran on this host and its process is gone."""
    return owner_state(owner) == "dead"
