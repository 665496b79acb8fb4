"""`LeadSequence`: the leads of a retrieve response, each built the first time it is read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from msgrelay.upscale.models import Lead

__all__ = ["LeadSequence"]


class LeadSequence(Sequence["Lead"]):
    """An immutable sequence of leads, each built the first time it is read.

    A retrieve response can hold tens of thousands of leads. Decoding checks every lead's fields up
    front (a wrong type raises then, naming its wire path), but builds each `Lead` only when it is
    first read, and returns that same object afterwards. It compares equal to a tuple of equal leads,
    and ``+`` with a tuple or another sequence of leads gives a tuple.
    """

    __slots__ = ("_build", "_items")

    def __init__(self, leads: Iterable[Lead] = ()) -> None:
        self._items: list[Lead | dict[str, Any]] = list(leads)
        self._build: Callable[[dict[str, Any]], Lead] | None = None

    @classmethod
    def lazy(cls, wire: list[dict[str, Any]], build: Callable[[dict[str, Any]], Lead]) -> LeadSequence:
        """Leads from wire objects already checked, each built by ``build`` when first read.

        The list is taken over, not copied: the caller must not keep or change it.
        """
        self = cls.__new__(cls)
        self._items = wire  # type: ignore[assignment]
        self._build = build
        return self

    def wire_items(self) -> Iterator[Lead | dict[str, Any]]:
        """Each item as it is now: a built `Lead`, or the wire object it will be built from (read only)."""
        return iter(self._items)

    def _built(self, index: int, wire: dict[str, Any]) -> Lead:
        assert self._build is not None
        lead = self._items[index] = self._build(wire)
        return lead

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Lead: ...

    @overload
    def __getitem__(self, index: slice) -> LeadSequence: ...

    def __getitem__(self, index: int | slice) -> Lead | LeadSequence:
        if isinstance(index, slice):
            part = LeadSequence.__new__(LeadSequence)
            part._items = self._items[index]
            part._build = self._build
            return part
        item = self._items[index]
        if type(item) is dict:
            return self._built(index, item)
        return item  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Lead]:
        items = self._items
        for index, item in enumerate(items):
            if type(item) is dict:
                yield self._built(index, item)
            else:
                yield item  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LeadSequence | tuple):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # like a tuple of leads: a lead holds dicts

    def __add__(self, other: Sequence[Lead]) -> tuple[Lead, ...]:
        if not isinstance(other, LeadSequence | tuple):
            return NotImplemented
        return (*self, *other)

    def __radd__(self, other: Sequence[Lead]) -> tuple[Lead, ...]:
        if not isinstance(other, tuple):
            return NotImplemented
        return (*other, *self)

    def __repr__(self) -> str:
        return f"LeadSequence({tuple(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (LeadSequence, (tuple(self),))
