"""A persistent append-only log: appending is O(1) and shares every earlier entry.

The cluster keeps its trace of actions and its audit records in logs, so that an action never
copies the run so far (a tuple append would, which makes long runs quadratic).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Log(Generic[T]):
    """An immutable sequence built by `append`; `Log()` is the empty log."""

    __slots__ = ("_item", "_length", "_previous")

    _item: T | None
    _length: int
    _previous: Log[T] | None

    def __init__(self) -> None:
        self._item = None
        self._length = 0
        self._previous = None

    def append(self, item: T) -> Log[T]:
        log: Log[T] = Log.__new__(Log)
        log._item = item
        log._length = self._length + 1
        log._previous = self
        return log

    def __len__(self) -> int:
        return self._length

    def items(self) -> tuple[T, ...]:
        """Every entry, oldest first."""
        out: list[T] = []
        node: Log[T] | None = self
        while node is not None and node._length:
            out.append(node._item)  # type: ignore[arg-type]
            node = node._previous
        out.reverse()
        return tuple(out)

    def newest(self) -> Iterator[T]:
        """The entries, newest first (lazily: stops as soon as the caller does)."""
        node: Log[T] | None = self
        while node is not None and node._length:
            yield node._item  # type: ignore[misc]
            node = node._previous

    def __iter__(self) -> Iterator[T]:
        return iter(self.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Log):
            return NotImplemented
        return self is other or (self._length == other._length and self.items() == other.items())

    def __hash__(self) -> int:
        return hash(self.items())

    def __repr__(self) -> str:
        return f"Log(length={self._length})"

    @classmethod
    def of(cls, items: tuple[T, ...]) -> Log[T]:
        log: Log[T] = cls()
        for item in items:
            log = log.append(item)
        return log
