"""The client context: opaque, versioned, validated bytes (SPEC section 4).

Layout (REQ-CTX-1): a format byte (1), a mode byte (1 dvv, 2 vclock, 3 lww), then for dvv and
vclock an unsigned LEB128 entry count followed by, in ascending actor order, each actor as a
LEB128 length plus UTF-8 bytes and its counter as LEB128. lww's payload is empty or the stamp
of the version the read saw: its timestamp as zigzag LEB128, then its actor as LEB128 length
plus UTF-8 bytes. The empty byte string is the empty context of every mode (what a client that
never read sends).

Decoding is total (REQ-CTX-2): any bytes give a `Context` or a `ContextError`.
"""

from __future__ import annotations

import enum
import hashlib

import attrs

from dynref.causality.vv import VersionVector

FORMAT_VERSION = 1
# Counters and timestamps stay below 2**62 in magnitude (REQ-BOUND-2): so a counter incremented
# once, or a timestamp raised by one, still fits the wire's signed 64 bits, and every LEB128
# number of a context fits 9 bytes (63 bits); refusing longer varints bounds the work per byte.
INTEGER_LIMIT = 2**62
MAX_VARINT_BYTES = 9


class Mode(enum.Enum):
    DVV = "dvv"
    VCLOCK = "vclock"
    LWW = "lww"


MODE_BYTE: dict[Mode, int] = {Mode.DVV: 1, Mode.VCLOCK: 2, Mode.LWW: 3}
MODE_OF_BYTE: dict[int, Mode] = {byte: mode for mode, byte in MODE_BYTE.items()}


Stamp = tuple[int, str]
"""(timestamp, actor): what orders lww versions, before the value."""


@attrs.frozen
class LwwContext:
    """REQ-CTX-1, REQ-LWW-1: the stamp of the version an lww read saw (tombstones included), or
    None when it saw none; a write with this context is stamped above it."""

    stamp: Stamp | None = None

    def is_empty(self) -> bool:
        return self.stamp is None


Context = VersionVector | LwwContext
"""A decoded context: a version vector in dvv and vclock, a stamp in lww."""


def empty_context(mode: Mode) -> Context:
    """The context of a key never written (and of the empty byte string)."""
    return LwwContext() if mode is Mode.LWW else VersionVector()


@attrs.frozen
class ContextError:
    """Why some bytes are not a context of the expected mode; a value, never raised."""

    reason: str


def append_varint(out: bytearray, number: int) -> None:
    """Append `number` (>= 0) as unsigned LEB128, shortest form."""
    if number < 0:
        raise ValueError(f"cannot encode negative {number} as unsigned LEB128")
    while True:
        low = number & 0x7F
        number >>= 7
        if number:
            out.append(low | 0x80)
        else:
            out.append(low)
            return


def append_signed(out: bytearray, number: int) -> None:
    """Append any integer (a timestamp may be negative under a skewed clock), zigzag LEB128."""
    append_varint(out, number * 2 if number >= 0 else -number * 2 - 1)


def append_text(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    append_varint(out, len(raw))
    out += raw


def append_value(out: bytearray, value: bytes | None) -> None:
    """Append a value or tombstone (None) unambiguously."""
    if value is None:
        out.append(0)
    else:
        out.append(1)
        append_varint(out, len(value))
        out += value


def value_rank(value: bytes | None) -> tuple[bool, bytes]:
    """A total order on values in which a tombstone (None) sorts below every value."""
    return (value is not None, value or b"")


def digest_of(canonical: bytes) -> bytes:
    """The 16-byte digest (REQ-CAUS-2) of a sibling set's canonical encoding."""
    return hashlib.md5(canonical, usedforsecurity=False).digest()


def encode_context(mode: Mode, context: Context) -> bytes:
    """REQ-CTX-1: the canonical bytes of `context` as a context of `mode`.

    A context of the wrong kind for the mode (a vector for lww, a stamp for dvv) is a bug.
    """
    out = bytearray((FORMAT_VERSION, MODE_BYTE[mode]))
    if isinstance(context, LwwContext):
        if mode is not Mode.LWW:
            raise TypeError(f"an lww context given to {mode.value}")
        if context.stamp is not None:
            append_signed(out, context.stamp[0])
            append_text(out, context.stamp[1])
        return bytes(out)
    if mode is Mode.LWW:
        raise TypeError("a version vector given to lww")
    append_varint(out, len(context.entries))
    for actor, counter in context.entries:
        append_text(out, actor)
        append_varint(out, counter)
    return bytes(out)


class _Reader:
    """A cursor over untrusted bytes whose reads return None and record why on failure."""

    def __init__(self, raw: bytes, position: int) -> None:
        self.raw = raw
        self.position = position
        self.error: str | None = None

    def fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason

    def varint(self, what: str) -> int | None:
        number = 0
        for index in range(MAX_VARINT_BYTES):
            if self.position >= len(self.raw):
                self.fail(f"truncated: {what} ends early")
                return None
            byte = self.raw[self.position]
            self.position += 1
            number |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                # A final zero byte after the first would be an overlong (non-canonical) form.
                if byte == 0 and index > 0:
                    self.fail(f"non-canonical varint: {what} has an overlong encoding")
                    return None
                return number
        self.fail(f"varint too long: {what} exceeds {MAX_VARINT_BYTES} bytes")
        return None

    def take(self, length: int, what: str) -> bytes | None:
        if len(self.raw) - self.position < length:
            self.fail(f"truncated: {what} needs {length} bytes")
            return None
        chunk = self.raw[self.position : self.position + length]
        self.position += length
        return chunk

    def text(self, what: str) -> str | None:
        length = self.varint(f"{what} length")
        if length is None:
            return None
        raw = self.take(length, what)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.fail(f"bad utf-8 in {what}: {error.reason} at byte {error.start}")
            return None


def decode_context(mode: Mode, raw: bytes) -> Context | ContextError:
    """REQ-CTX-2: the context `raw` holds for `mode`, or why it holds none. Never raises."""
    if not raw:
        return empty_context(mode)
    if raw[0] != FORMAT_VERSION:
        return ContextError(f"unknown format byte {raw[0]} (expected {FORMAT_VERSION})")
    if len(raw) < 2:
        return ContextError("truncated: no mode byte")
    found = MODE_OF_BYTE.get(raw[1])
    if found is None:
        return ContextError(f"unknown mode byte {raw[1]}")
    if found is not mode:
        return ContextError(f"foreign mode: a {found.value} context given to {mode.value}")
    if mode is Mode.LWW:
        return _decode_stamp(_Reader(raw, 2))
    simple = _one_byte_entries(raw)
    if simple is not None:
        return VersionVector(simple)
    return _decode_entries(_Reader(raw, 2))


def _one_byte_entries(raw: bytes) -> tuple[tuple[str, int], ...] | None:
    """The entries of a valid context whose every varint is a single byte, else None.

    Real contexts are of this shape (a few actors, counters below 128), and reading them
    without `_Reader`'s error bookkeeping halves a put's validation. Whatever this accepts,
    `_decode_entries` accepts alike; anything else goes there for its verdict.
    """
    end = len(raw)
    if end < 3 or raw[2] >= 0x80:
        return None
    entries: list[tuple[str, int]] = []
    position = 3
    for _ in range(raw[2]):
        if position >= end or raw[position] >= 0x80:
            return None
        start = position + 1
        position = start + raw[position]
        if position >= end:
            return None
        try:
            actor = raw[start:position].decode("utf-8")
        except UnicodeDecodeError:
            return None
        counter = raw[position]
        if not 0 < counter < 0x80 or (entries and actor <= entries[-1][0]):
            return None
        entries.append((actor, counter))
        position += 1
    return tuple(entries) if position == end else None


def _decode_stamp(reader: _Reader) -> LwwContext | ContextError:
    if reader.position == len(reader.raw):
        return LwwContext()
    zigzag = reader.varint("timestamp")
    actor = reader.text("actor")
    if zigzag is not None and actor is not None:
        timestamp = zigzag >> 1 if zigzag % 2 == 0 else -(zigzag >> 1) - 1
        if abs(timestamp) >= INTEGER_LIMIT:
            reader.fail(f"timestamp {timestamp} is not below 2**62 in magnitude")
        elif reader.position != len(reader.raw):
            reader.fail(f"trailing bytes: {len(reader.raw) - reader.position} after the stamp")
        else:
            return LwwContext((timestamp, actor))
    assert reader.error is not None
    return ContextError(reader.error)


def _decode_entries(reader: _Reader) -> VersionVector | ContextError:
    count = reader.varint("entry count")
    entries: list[tuple[str, int]] = []
    for index in range(count or 0):
        actor = reader.text(f"actor {index}")
        counter = reader.varint(f"counter {index}")
        if actor is None or counter is None:
            break
        if counter == 0:
            reader.fail(f"zero counter for actor {actor!r}")
            break
        if counter >= INTEGER_LIMIT:
            reader.fail(f"counter {counter} for actor {actor!r} is not below 2**62")
            break
        if entries and actor == entries[-1][0]:
            reader.fail(f"non-canonical order: duplicate actor {actor!r}")
            break
        if entries and actor < entries[-1][0]:
            reader.fail(f"non-canonical order: actor {actor!r} after {entries[-1][0]!r}")
            break
        entries.append((actor, counter))
    if reader.error is None and reader.position != len(reader.raw):
        reader.fail(f"trailing bytes: {len(reader.raw) - reader.position} after the entries")
    if reader.error is not None:
        return ContextError(reader.error)
    return VersionVector(tuple(entries))
