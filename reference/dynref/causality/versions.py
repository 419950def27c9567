"""The interface every causality mode offers for the sibling set of one key (SPEC section 3)."""

from __future__ import annotations

from typing import Protocol, Self

from dynref.causality.context import Mode, encode_context
from dynref.causality.dvv import DvvSet
from dynref.causality.lww import LwwRegister
from dynref.causality.vclock import VclockSiblings
from dynref.causality.vv import VersionVector


class Versions(Protocol):
    """The sibling set of one key; implemented by DvvSet, VclockSiblings and LwwRegister."""

    def values(self) -> tuple[bytes, ...]:
        """The visible values (tombstones hidden), sorted."""
        ...

    def context(self) -> VersionVector:
        """What a read returns for the next write to pass back (REQ-CAUS-7)."""
        ...

    def write(
        self, value: bytes | None, context: VersionVector, actor: str, timestamp: int
    ) -> Self:
        """Store `value` (None writes a tombstone) as seen through `context`."""
        ...

    def merge(self, other: Self) -> Self:
        """The join of two replicas' sibling sets (REQ-CAUS-1)."""
        ...

    def digest(self) -> bytes:
        """16 bytes, equal for equal sibling sets (REQ-CAUS-2)."""
        ...

    def is_empty(self) -> bool:
        """Whether no version is held at all, not even a tombstone."""
        ...

    def sibling_count(self) -> int:
        """The number of versions held, tombstones included."""
        ...

    def latest_timestamp(self) -> int:
        """The greatest timestamp among the versions held, 0 when empty."""
        ...


AnyVersions = DvvSet | VclockSiblings | LwwRegister

_EMPTY: dict[Mode, AnyVersions] = {
    Mode.DVV: DvvSet(),
    Mode.VCLOCK: VclockSiblings(),
    Mode.LWW: LwwRegister(),
}


def empty_versions(mode: Mode) -> AnyVersions:
    """The sibling set of a key never written."""
    return _EMPTY[mode]


def mode_of(versions: AnyVersions) -> Mode:
    if isinstance(versions, DvvSet):
        return Mode.DVV
    if isinstance(versions, VclockSiblings):
        return Mode.VCLOCK
    return Mode.LWW


def merge_versions(first: AnyVersions, second: AnyVersions) -> AnyVersions:
    """`first.merge(second)` for sets whose mode is known only at run time.

    Sets of different modes never meet in a correct cluster, so mixing them is a bug.
    """
    if isinstance(first, DvvSet) and isinstance(second, DvvSet):
        return first.merge(second)
    if isinstance(first, VclockSiblings) and isinstance(second, VclockSiblings):
        return first.merge(second)
    if isinstance(first, LwwRegister) and isinstance(second, LwwRegister):
        return first.merge(second)
    raise TypeError(f"cannot merge {type(first).__name__} with {type(second).__name__}")


def read_context(versions: AnyVersions) -> bytes:
    """The encoded context a read of `versions` returns to the client."""
    return encode_context(mode_of(versions), versions.context())


def _implements_versions(versions: AnyVersions) -> Versions:
    # mypy checks here that all three modes satisfy the protocol.
    return versions
