"""Causality tracking for one key's versions, in three modes (SPEC sections 3 and 4).

- `dvv`: dotted version vector sets; exact, the default.
- `vclock`: per-version vector clocks as in the Dynamo paper, with its known anomaly.
- `lww`: server-side last-write-wins.

Every mode implements `Versions`; contexts travel to clients as `encode_context` bytes.
"""

from __future__ import annotations

from dynref.causality.context import (
    INTEGER_LIMIT,
    Context,
    ContextError,
    LwwContext,
    Mode,
    decode_context,
    empty_context,
    encode_context,
)
from dynref.causality.dvv import DvvSet, DvvSibling
from dynref.causality.lww import LwwRegister, LwwVersion
from dynref.causality.vclock import VCLOCK_MAX_ENTRIES, ClockedVersion, VclockSiblings
from dynref.causality.versions import (
    AnyVersions,
    Versions,
    empty_versions,
    merge_versions,
    mode_of,
    read_context,
    write_versions,
)
from dynref.causality.vv import Actor, VersionVector

__all__ = [
    "INTEGER_LIMIT",
    "Actor",
    "AnyVersions",
    "ClockedVersion",
    "Context",
    "ContextError",
    "DvvSet",
    "DvvSibling",
    "LwwContext",
    "LwwRegister",
    "LwwVersion",
    "Mode",
    "VCLOCK_MAX_ENTRIES",
    "VclockSiblings",
    "VersionVector",
    "Versions",
    "decode_context",
    "empty_context",
    "empty_versions",
    "encode_context",
    "merge_versions",
    "mode_of",
    "read_context",
    "write_versions",
]
