"""Length-prefixed msgpack frames for every value that crosses a connection (docs/wire-format.md).

A frame is a 4-byte big-endian body length, then a msgpack body `[version, tag, field...]`;
a value nested inside is `[tag, field...]`. Encoding and decoding are generic: they walk the
attrs field annotations of the registered types (`dynref_io.wire`), so no message has code of
its own. Decoding is strict and total: any bytes give a wire object or a `DecodeError` value,
and an object is built only from fields that were all checked against their annotations.
"""

from __future__ import annotations

import asyncio
import enum
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs
import msgpack  # type: ignore[import-untyped]
from dynref.causality import AnyVersions

from dynref_io.wire import FRAME_TAGS, PART_TAGS, PROTOCOL_VERSION, WELL_FORMED, WireObject

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""The default limit on a frame's body; the core limits values to 1 MiB."""
LENGTH_PREFIX_BYTES = 4
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""Integers travel as signed 64-bit, what every msgpack implementation reads back."""


@attrs.frozen
class DecodeError:
    """Why some bytes are not a frame; a value, never raised out of this module."""

    reason: str


class _InvalidError(Exception):
    """A defect found while decoding; the public functions turn it into a `DecodeError`.

    The path to the defect (`.versions.vv.entries[2]`) is collected while the stack unwinds, so
    that decoding valid input never spends time formatting locations.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = []

    def at(self, segment: str) -> _InvalidError:
        self.segments.append(segment)
        return self

    def describe(self, root: str) -> str:
        return f"{root}{''.join(reversed(self.segments))}: {self.reason}"


class _MsgpackMap(list[tuple[Any, Any]]):
    """A msgpack map as its pairs in wire order, so that duplicate keys can be rejected."""


def _kind(raw: object) -> str:
    """The msgpack type of a decoded value, as the docs and the error messages name it."""
    if raw is None:
        return "nil"
    if isinstance(raw, bool):  # before int: bool is an int subclass
        return "bool"
    if isinstance(raw, int):
        return "int"
    if isinstance(raw, str):
        return "str"
    if isinstance(raw, bytes):
        return "bin"
    if isinstance(raw, _MsgpackMap):
        return "map"
    if isinstance(raw, list):
        return "array"
    if isinstance(raw, float):
        return "float"
    return "ext"


def _mismatch(expected: str, raw: object) -> _InvalidError:
    return _InvalidError(f"expected {expected}, got {_kind(raw)}")


@attrs.frozen
class _Shape:
    """How values of one annotation travel: their msgpack kind and the two conversions.

    `encode` raises ValueError for a value that does not match the annotation (a programming
    error of the sender); `decode` raises `_InvalidError` for untrusted input that does not.
    """

    kind: str
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    classes: frozenset[type] = frozenset()  # for kind "array": the attrs classes, told by tag


def _scalar(kind: str, python_type: type) -> _Shape:
    # `type(...) is`, not isinstance: a bool is an int to Python, not to msgpack.
    bounded = python_type is int

    def encode(value: Any) -> Any:
        if type(value) is not python_type:
            raise ValueError(f"expected {python_type.__name__}, got {type(value).__name__}")
        if bounded and not INT_MIN <= cast(int, value) <= INT_MAX:
            raise ValueError(f"int {value} does not fit in signed 64 bits")
        return value

    def decode(raw: Any) -> Any:
        if type(raw) is not python_type:
            raise _mismatch(kind, raw)
        if bounded and not INT_MIN <= cast(int, raw) <= INT_MAX:
            raise _InvalidError(f"int {raw} does not fit in signed 64 bits")
        return raw

    return _Shape(kind, kind, encode, decode)


_SCALARS: dict[object, _Shape] = {
    type(None): _scalar("nil", type(None)),
    bool: _scalar("bool", bool),
    int: _scalar("int", int),
    str: _scalar("str", str),
    bytes: _scalar("bin", bytes),
}


def _decode_items(items: Iterable[tuple[_Shape, Any]]) -> tuple[Any, ...]:
    """Decode array items, each by its shape; a defect names the item's index."""
    decoded = []
    for index, (shape, raw) in enumerate(items):
        try:
            decoded.append(shape.decode(raw))
        except _InvalidError as defect:
            raise defect.at(f"[{index}]") from None
    return tuple(decoded)


class Schema:
    """The wire types, their tags and their invariants, compiled into encoders and decoders.

    Every field annotation is compiled when the schema is built, so an unsupported one fails at
    import time rather than on the first message that carries it.
    """

    def __init__(
        self,
        frame_tags: Iterable[tuple[int, type]],
        part_tags: Iterable[tuple[int, type]],
        well_formed: dict[type, Callable[[Any], str | None]],
    ) -> None:
        frames = tuple(frame_tags)
        self._class_of: dict[int, type] = {}
        self._tag_of: dict[type, int] = {}
        for tag, cls in (*frames, *part_tags):
            if tag in self._class_of or cls in self._tag_of or not 0 <= tag <= 127:
                raise ValueError(f"tag {tag} for {cls.__name__} is reused or out of fixint range")
            self._class_of[tag] = cls
            self._tag_of[cls] = tag
        self._frame_classes = frozenset(cls for _, cls in frames)
        self._well_formed = dict(well_formed)
        self._fields: dict[type, tuple[tuple[str, _Shape], ...]] = {}
        self._shapes: dict[Any, _Shape] = {}
        for cls in self._tag_of:
            self._fields_of(cls)

    # ------------------------------------------------------------ compiling annotations

    def _fields_of(self, cls: type) -> tuple[tuple[str, _Shape], ...]:
        compiled = self._fields.get(cls)
        if compiled is None:
            hints = typing.get_type_hints(cls)
            fields = attrs.fields(cls)
            if not all(field.init and not field.kw_only for field in fields):
                raise TypeError(f"{cls.__name__} must take every field positionally")
            compiled = tuple((field.name, self.shape(hints[field.name])) for field in fields)
            self._fields[cls] = compiled
        return compiled

    def shape(self, annotation: Any) -> _Shape:
        """The compiled shape of a field annotation; TypeError when the wire cannot carry it."""
        compiled = self._shapes.get(annotation)
        if compiled is None:
            compiled = self._compile(annotation)
            self._shapes[annotation] = compiled
        return compiled

    def _compile(self, annotation: Any) -> _Shape:
        scalar = _SCALARS.get(annotation)
        if scalar is not None:
            return scalar
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return self._enum(annotation)
        if isinstance(annotation, type) and attrs.has(annotation):
            return self._tagged(frozenset({annotation}))
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return self._homogeneous_tuple(self.shape(args[0]))
        if origin is tuple:
            return self._fixed_tuple(tuple(self.shape(arg) for arg in args))
        if origin is dict:
            return self._dict(self.shape(args[0]), self.shape(args[1]))
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args)
        raise TypeError(f"the wire cannot carry {annotation!r}")

    def _enum(self, cls: type[enum.Enum]) -> _Shape:
        value_types = {type(member.value) for member in cls}
        if len(value_types) != 1 or not value_types <= {int, str}:
            raise TypeError(f"enum {cls.__name__} needs values all int or all str")
        inner = _SCALARS[value_types.pop()]

        def encode(value: Any) -> Any:
            if type(value) is not cls:
                raise ValueError(f"expected {cls.__name__}, got {type(value).__name__}")
            return value.value

        def decode(raw: Any) -> Any:
            try:
                return cls(inner.decode(raw))
            except ValueError:
                raise _InvalidError(f"{raw!r} is not a {cls.__name__}") from None

        return _Shape(inner.kind, cls.__name__, encode, decode)

    def _tagged(self, classes: frozenset[type]) -> _Shape:
        for cls in classes:
            if cls not in self._tag_of:
                raise TypeError(f"{cls.__name__} travels on the wire but has no tag")
        names = " | ".join(sorted(cls.__name__ for cls in classes))

        def encode(value: Any) -> Any:
            if type(value) not in classes:
                raise ValueError(f"expected {names}, got {type(value).__name__}")
            return [self._tag_of[type(value)], *self._encode_fields(value)]

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise _mismatch(f"array ({names})", raw)
            if not raw:
                raise _InvalidError(f"empty array where {names} was expected")
            cls = self._class_of.get(raw[0]) if type(raw[0]) is int else None
            if cls not in classes:
                raise _InvalidError(f"tag {raw[0]!r} where {names} was expected")
            return self._build(cls, raw, 1)

        return _Shape("array", names, encode, decode, classes)

    def _homogeneous_tuple(self, item: _Shape) -> _Shape:
        def encode(value: Any) -> Any:
            if type(value) is not tuple:
                raise ValueError(f"expected tuple, got {type(value).__name__}")
            return [item.encode(element) for element in value]

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise _mismatch("array", raw)
            return _decode_items((item, element) for element in raw)

        return _Shape("array", f"tuple[{item.name}, ...]", encode, decode)

    def _fixed_tuple(self, items: tuple[_Shape, ...]) -> _Shape:
        arity = len(items)

        def encode(value: Any) -> Any:
            if type(value) is not tuple or len(value) != arity:
                raise ValueError(f"expected a tuple of {arity}, got {value!r:.80}")
            return [shape.encode(element) for shape, element in zip(items, value, strict=True)]

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise _mismatch("array", raw)
            if len(raw) != arity:
                raise _InvalidError(f"expected an array of {arity}, got {len(raw)} items")
            return _decode_items(zip(items, raw, strict=True))

        names = ", ".join(shape.name for shape in items)
        return _Shape("array", f"tuple[{names}]", encode, decode)

    def _dict(self, key: _Shape, value: _Shape) -> _Shape:
        if key.kind not in {"str", "bin"}:
            raise TypeError("map keys travel as str or bin only")

        def encode(mapping: Any) -> Any:
            if type(mapping) is not dict:
                raise ValueError(f"expected dict, got {type(mapping).__name__}")
            return {key.encode(k): value.encode(v) for k, v in mapping.items()}

        def decode(raw: Any) -> Any:
            if type(raw) is not _MsgpackMap:
                raise _mismatch("map", raw)
            decoded: dict[Any, Any] = {}
            for raw_key, raw_value in raw:
                try:
                    k = key.decode(raw_key)
                except _InvalidError as defect:
                    raise defect.at(" (a key)") from None
                if k in decoded:
                    raise _InvalidError(f"duplicate map key {k!r:.80}")
                try:
                    decoded[k] = value.decode(raw_value)
                except _InvalidError as defect:
                    raise defect.at(f"[{k!r:.80}]") from None
            return decoded

        return _Shape("map", f"dict[{key.name}, {value.name}]", encode, decode)

    def _union(self, members: tuple[Any, ...]) -> _Shape:
        by_kind: dict[str, _Shape] = {}
        for member in members:
            shape = self.shape(member)
            known = by_kind.get(shape.kind)
            if known is None:
                by_kind[shape.kind] = shape
            elif shape.classes and known.classes:  # several attrs classes: the tag tells them
                by_kind[shape.kind] = self._tagged(known.classes | shape.classes)
            else:
                raise TypeError(f"union members {known.name} and {shape.name} look alike")
        names = " | ".join(shape.name for shape in by_kind.values())

        def encode(value: Any) -> Any:
            if isinstance(value, enum.Enum):
                kind = _kind(value.value)
            elif isinstance(value, tuple) or attrs.has(type(value)):
                kind = "array"
            elif isinstance(value, dict):
                kind = "map"
            else:
                kind = _kind(value)
            shape = by_kind.get(kind)
            if shape is None:
                raise ValueError(f"expected {names}, got {type(value).__name__}")
            return shape.encode(value)

        def decode(raw: Any) -> Any:
            shape = by_kind.get(_kind(raw))
            if shape is None:
                raise _mismatch(names, raw)
            return shape.decode(raw)

        return _Shape("/".join(by_kind), names, encode, decode)

    # ------------------------------------------------------------ attrs classes

    def _encode_fields(self, value: Any) -> list[Any]:
        encoded = []
        for name, shape in self._fields[type(value)]:
            try:
                encoded.append(shape.encode(getattr(value, name)))
            except ValueError as error:
                raise ValueError(f"{type(value).__name__}.{name}: {error}") from None
        return encoded

    def _build(self, cls: type, raw: list[Any], start: int) -> Any:
        """Check `raw[start:]` against the fields of `cls`, then build it and check it."""
        fields = self._fields[cls]
        count = len(raw) - start
        if count != len(fields):
            raise _InvalidError(f"{cls.__name__} has {len(fields)} fields, got {count}")
        values = []
        for (name, shape), raw_value in zip(fields, raw[start:], strict=True):
            try:
                values.append(shape.decode(raw_value))
            except _InvalidError as defect:
                raise defect.at(f".{name}") from None
        try:
            built = cls(*values)
        except Exception as error:  # a constructor or attrs validator refused the values
            raise _InvalidError(f"{cls.__name__} refused its fields: {error}") from None
        check = self._well_formed.get(cls)
        problem = None if check is None else check(built)
        if problem is not None:
            raise _InvalidError(f"{cls.__name__}: {problem}")
        return built

    # ------------------------------------------------------------ frame bodies

    def encode_body(self, obj: object) -> bytes:
        """The msgpack body of a frame; ValueError for an object that is not a frame type."""
        cls = type(obj)
        if cls not in self._frame_classes:
            raise ValueError(f"{cls.__name__} is not a wire frame type")
        message = [PROTOCOL_VERSION, self._tag_of[cls], *self._encode_fields(obj)]
        return cast(bytes, msgpack.packb(message, use_bin_type=True))

    def decode_body(self, body: bytes) -> Any:
        """The object a frame body holds, or a `DecodeError`; never raises."""
        raw = _unpack(body)
        if isinstance(raw, DecodeError):
            return raw
        try:
            if type(raw) is not list or len(raw) < 2:
                raise _InvalidError("a frame body is an array [version, tag, field...]")
            version, tag = raw[0], raw[1]
            if type(version) is not int or version != PROTOCOL_VERSION:
                raise _InvalidError(f"unknown protocol version {version!r:.40}")
            cls = self._class_of.get(tag) if type(tag) is int else None
            if cls is None or cls not in self._frame_classes:
                raise _InvalidError(f"unknown frame tag {tag!r:.40}")
        except _InvalidError as defect:
            return DecodeError(defect.reason)
        try:
            return self._build(cls, raw, 2)
        except _InvalidError as defect:
            return DecodeError(defect.describe(cls.__name__))

    def encode_value(self, annotation: Any, value: object) -> bytes:
        """A value of `annotation` alone as msgpack; ValueError when it does not match."""
        return cast(bytes, msgpack.packb(self.shape(annotation).encode(value), use_bin_type=True))

    def decode_value(self, annotation: Any, body: bytes, what: str = "value") -> Any:
        """The value of `annotation` that `body` holds, or a `DecodeError`; never raises."""
        raw = _unpack(body)
        if isinstance(raw, DecodeError):
            return raw
        try:
            return self.shape(annotation).decode(raw)
        except _InvalidError as defect:
            return DecodeError(defect.describe(what))


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(
            body, raw=False, use_list=True, strict_map_key=True, object_pairs_hook=_MsgpackMap
        )
    except Exception as error:  # msgpack reports bad input with many exception types
        return DecodeError(f"not msgpack: {type(error).__name__}: {error}".rstrip(": "))


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
        self._failed = False

    @property
    def failed(self) -> bool:
        return self._failed

    def feed(self, data: bytes) -> list[WireObject | DecodeError]:
        if self._failed:
            return []
        self._buffer += data
        decoded: list[WireObject | DecodeError] = []
        position = 0  # consumed bytes are dropped once per feed, not once per frame
        while len(self._buffer) - position >= LENGTH_PREFIX_BYTES:
            header_end = position + LENGTH_PREFIX_BYTES
            length = int.from_bytes(self._buffer[position:header_end], "big")
            if length > self._max_frame_bytes:
                decoded.append(_oversized(length, self._max_frame_bytes))
                self._failed = True
                self._buffer = bytearray()
                return decoded
            if len(self._buffer) - header_end < length:
                break
            decoded.append(decode_body(bytes(self._buffer[header_end : header_end + length])))
            position = header_end + length
        del self._buffer[:position]
        return decoded


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
