"""Length-prefixed msgpack frames for every value that crosses a connection (docs/wire-format.md).

A frame is a 4-byte big-endian body length, then a msgpack body `[version, tag, field...]`;
a value nested inside is `[tag, field...]`. Encoding and decoding are generic
(`dynref_io.wire.schema` compiles the attrs field annotations of the registered types in
`dynref_io.wire.frames`), so no message has code of its own. Decoding is strict and total: any
bytes give a wire object or a `DecodeError` value, and an object is built only from fields that
were all checked against their annotations.
"""

from __future__ import annotations

import asyncio
from typing import cast

from dynref.causality import AnyVersions
from dynref.membership import Membership

from dynref_io.wire.frames import FRAME_TAGS, PART_TAGS, WELL_FORMED, WireObject
from dynref_io.wire.schema import Schema
from dynref_io.wire.shapes import INT_MAX, INT_MIN, DecodeError

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""The default limit on a frame's body; the core limits values to 1 MiB."""
LENGTH_PREFIX_BYTES = 4

SCHEMA = Schema(FRAME_TAGS, PART_TAGS, WELL_FORMED)
SCHEMA.shape(AnyVersions)  # compiled now, so that the first stored key does not pay for it


def encode(obj: WireObject) -> bytes:
    """The whole frame of `obj`, length prefix included.

    Raises ValueError only for a programming error: an object of a type that is not a frame, a
    field that does not match its annotation, or a body longer than the prefix can state.
    """
    body = SCHEMA.encode_body(obj)
    if len(body) >= 2 ** (8 * LENGTH_PREFIX_BYTES):
        raise ValueError(f"a {type(obj).__name__} of {len(body)} bytes cannot be framed")
    return len(body).to_bytes(LENGTH_PREFIX_BYTES, "big") + body


def decode_body(body: bytes) -> WireObject | DecodeError:
    """The object a frame body holds, or why it holds none. Never raises."""
    return cast("WireObject | DecodeError", SCHEMA.decode_body(body))


def encode_versions(versions: AnyVersions) -> bytes:
    """A key's versions as msgpack `[tag, field...]`, without version or length prefix."""
    return SCHEMA.encode_value(AnyVersions, versions)


def decode_versions(body: bytes) -> AnyVersions | DecodeError:
    """The versions `encode_versions` wrote, or why `body` holds none. Never raises."""
    return cast("AnyVersions | DecodeError", SCHEMA.decode_value(AnyVersions, body, "versions"))


def encode_membership(membership: Membership) -> bytes:
    """A membership as msgpack `[tag, field...]`, for a node's store."""
    return SCHEMA.encode_value(Membership, membership)


def decode_membership(body: bytes) -> Membership | DecodeError:
    """The membership `encode_membership` wrote, or why `body` holds none. Never raises."""
    return cast("Membership | DecodeError", SCHEMA.decode_value(Membership, body, "membership"))


class FrameReader:
    """Splits a byte stream into frames and decodes them, however the bytes are chunked.

    A frame whose body fails to decode yields a `DecodeError` and reading goes on (the length
    prefix still delimits it); the caller decides whether to close. A length prefix over the
    limit yields one `DecodeError` before any of that body is buffered, and the reader then
    stays failed: the stream cannot be trusted to be in step any more.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._needed = LENGTH_PREFIX_BYTES
        """How many buffered bytes complete the frame at the buffer's start (its prefix first)."""
        self._failed = False

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def buffered(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[WireObject | DecodeError]:
        if self._failed:
            return []
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._needed:
                return []  # a large frame arriving in pieces is copied once, not once a piece
            data = bytes(self._buffer)
        decoded: list[WireObject | DecodeError] = []
        position, end = 0, len(data)
        while True:
            header_end = position + LENGTH_PREFIX_BYTES
            if header_end > end:
                self._needed = LENGTH_PREFIX_BYTES
                break
            length = int.from_bytes(data[position:header_end], "big")
            if length > self._max_frame_bytes:
                decoded.append(_oversized(length, self._max_frame_bytes))
                self._failed = True
                self._buffer = bytearray()
                return decoded
            body_end = header_end + length
            if body_end > end:
                self._needed = LENGTH_PREFIX_BYTES + length
                break
            decoded.append(decode_body(data[header_end:body_end]))
            position = body_end
        self._buffer = bytearray(data[position:])
        return decoded


READ_CHUNK_BYTES = 256 * 1024


async def read_frames(
    reader: asyncio.StreamReader, frames: FrameReader
) -> list[WireObject | DecodeError]:
    """The frames that the next bytes of `reader` complete: at least one, or none at a clean end
    of the stream (between frames) or once `frames` has failed.

    Whatever is buffered is taken at once, so that a connection carrying many small frames costs
    one wake-up per batch of them rather than two reads per frame. A stream that ends inside a
    frame gives a `DecodeError`. Errors of the transport itself (a reset) propagate.
    """
    while not frames.failed:
        chunk = await reader.read(READ_CHUNK_BYTES)
        if not chunk:
            if frames.buffered:
                return [DecodeError(f"stream ended {frames.buffered} bytes into a frame")]
            return []
        decoded = frames.feed(chunk)
        if decoded:
            return decoded
    return []


def _oversized(length: int, limit: int) -> DecodeError:
    return DecodeError(f"frame of {length} bytes exceeds the limit of {limit}")


async def read_frame(
    reader: asyncio.StreamReader, max_frame_bytes: int = MAX_FRAME_BYTES
) -> WireObject | DecodeError | None:
    """The next frame of `reader`: None at a clean end of stream (between frames).

    An oversized length is reported before any of its body is read; a stream that ends inside
    a frame gives a `DecodeError`. Errors of the transport itself (a reset) propagate.
    """
    try:
        header = await reader.readexactly(LENGTH_PREFIX_BYTES)
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        return DecodeError(f"stream ended inside a length prefix ({len(error.partial)} bytes)")
    length = int.from_bytes(header, "big")
    if length > max_frame_bytes:
        return _oversized(length, max_frame_bytes)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as error:
        return DecodeError(f"stream ended {len(error.partial)} bytes into a {length}-byte frame")
    return decode_body(body)


__all__ = [
    "INT_MAX",
    "INT_MIN",
    "LENGTH_PREFIX_BYTES",
    "MAX_FRAME_BYTES",
    "DecodeError",
    "FrameReader",
    "Schema",
    "decode_body",
    "decode_versions",
    "encode",
    "encode_versions",
    "read_frame",
    "read_frames",
]
