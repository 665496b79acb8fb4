"""`LazySequence`: an immutable sequence whose items are built from wire objects when first read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self, TypeVar, overload

__all__ = ["LazySequence"]

T = TypeVar("T")


class LazySequence(Sequence[T]):
    """An immutable sequence of items, each built from its wire object the first time it is read.

    Made from built items, or with `lazy` from wire objects (JSON objects, exactly `dict`; so an
    item is never a `dict` itself) and the function that builds an item from one. A built item takes
    its wire object's place, and the same object is returned afterwards. It compares equal to a tuple
    of equal items, and ``+`` with a tuple or another lazy sequence gives a tuple. A subclass names
    the item type (`msgrelay.upscale.models.LeadSequence`); slices, copies and pickles keep it.
    """

    __slots__ = ("_build", "_items")

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T | dict[str, Any]] = list(items)
        self._build: Callable[[dict[str, Any]], T] | None = None

    @classmethod
    def lazy(cls, wire: list[dict[str, Any]], build: Callable[[dict[str, Any]], T]) -> Self:
        """Items from wire objects already checked, each built by ``build`` when first read.

        The list is taken over, not copied: the caller must not keep or change it.
        """
        self = cls.__new__(cls)
        self._items = wire  # type: ignore[assignment]
        self._build = build
        return self

    def wire_items(self) -> Iterator[T | dict[str, Any]]:
        """Each item as it is now: built, or the wire object it will be built from (read only)."""
        return iter(self._items)

    def _built(self, index: int, wire: dict[str, Any]) -> T:
        assert self._build is not None
        item = self._items[index] = self._build(wire)
        return item

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Self: ...

    def __getitem__(self, index: int | slice) -> T | Self:
        if isinstance(index, slice):
            cls = type(self)
            part = cls.__new__(cls)
            part._items = self._items[index]
            part._build = self._build
            return part
        item = self._items[index]
        if type(item) is dict:
            return self._built(index, item)
        return item  # type: ignore[return-value]

    def __iter__(self) -> Iterator[T]:
        items = self._items
        for index, item in enumerate(items):
            if type(item) is dict:
                yield self._built(index, item)
            else:
                yield item  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazySequence | tuple):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # never hashed: a tuple of leads (which hold dicts) is not

    def __add__(self, other: Sequence[T]) -> tuple[T, ...]:
        if not isinstance(other, LazySequence | tuple):
            return NotImplemented
        return (*self, *other)

    def __radd__(self, other: Sequence[T]) -> tuple[T, ...]:
        if not isinstance(other, tuple):
            return NotImplemented
        return (*other, *self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (tuple(self),))
