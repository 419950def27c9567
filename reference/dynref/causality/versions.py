"""The interface every causality mode offers for the sibling set of one key (SPEC section 3)."""

from __future__ import annotations

from typing import Protocol, Self, TypeVar

from dynref.causality.context import Context, LwwContext, Mode, encode_context
from dynref.causality.dvv import DvvSet
from dynref.causality.lww import LwwRegister
from dynref.causality.vclock import VclockSiblings
from dynref.causality.vv import VersionVector

ContextT = TypeVar("ContextT", VersionVector, LwwContext)


class Versions(Protocol[ContextT]):
    """The sibling set of one key; implemented by DvvSet, VclockSiblings (whose contexts are
    version vectors) and LwwRegister (whose contexts are stamps)."""

    def values(self) -> tuple[bytes, ...]:
        """The visible values (tombstones hidden), sorted."""
        ...

    def context(self) -> ContextT:
        """What a read returns for the next write to pass back (REQ-CAUS-7)."""
        ...

    def write(self, value: bytes | None, context: ContextT, actor: str, timestamp: int) -> Self:
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


def write_versions(
    versions: AnyVersions, value: bytes | None, context: Context, actor: str, timestamp: int
) -> AnyVersions:
    """`versions.write(...)` for a set and a context whose mode is known only at run time.

    A context of another mode than the set's is a bug: `decode_context` gives each mode its own.
    """
    if isinstance(versions, LwwRegister):
        if isinstance(context, LwwContext):
            return versions.write(value, context, actor, timestamp)
    elif isinstance(context, VersionVector):
        return versions.write(value, context, actor, timestamp)
    raise TypeError(f"cannot write {type(versions).__name__} with {type(context).__name__}")


def read_context(versions: AnyVersions) -> bytes:
    """The encoded context a read of `versions` returns to the client."""
    return encode_context(mode_of(versions), versions.context())


# mypy checks here that all three modes satisfy the protocol.
def _dvv_implements_versions(versions: DvvSet) -> Versions[VersionVector]:
    return versions


def _vclock_implements_versions(versions: VclockSiblings) -> Versions[VersionVector]:
    return versions


def _lww_implements_versions(versions: LwwRegister) -> Versions[LwwContext]:
    return versions
