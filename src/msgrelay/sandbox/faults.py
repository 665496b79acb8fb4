"""Scripted faults: make the sandbox answer the next N matching requests with an error or late.

``sandbox.faults.add(Fault("GET", "/account/check_credits", status=429, headers={"Retry-After": "2"}))``
answers the next credits call with a 429; ``Fault("POST", "/messages/request_message_generation",
delay=1.0)`` processes the next generation request, then holds the answer back for a second (so a
client with a shorter read timeout sees a timeout for a request that *was* processed).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import attrs


@attrs.define
class Fault:
    """One scripted fault.

    Attributes:
        method: the HTTP method it applies to.
        path_suffix: it applies to paths ending with this (``/account/check_credits``).
        status: answer with this status instead of processing (None: process normally).
        body: the JSON body of that answer.
        headers: headers of that answer (``{"Retry-After": "2"}``).
        delay: seconds to hold the answer back, after processing.
        times: how many matching requests it applies to.
    """

    method: str
    path_suffix: str
    status: int | None = None
    body: object = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    times: int = 1


class FaultPlan:
    """The faults still to apply, consumed in the order they were added. Thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Apply ``fault`` to the next ``fault.times`` matching requests."""
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, consuming one of its uses."""
        with self._lock:
            for fault in self._faults:
                if fault.method.upper() == method and path.endswith(fault.path_suffix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Drop every remaining fault."""
        with self._lock:
            self._faults.clear()
