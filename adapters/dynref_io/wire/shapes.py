"""The pieces the wire schema is compiled from: scalar shapes, 64-bit integers and the error
that a decoder raises internally and reports as a `DecodeError` value (docs/wire-format.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""Integers travel as signed 64-bit, what every msgpack implementation reads back."""


@attrs.frozen
class DecodeError:
    """Why some bytes are not a frame or a value; returned, never raised, by the decoders."""

    reason: str


class InvalidError(Exception):
    """A defect found while decoding; the public functions turn it into a `DecodeError`.

    The path to the defect (`.versions.vv.entries[2]`) is collected while the stack unwinds, so
    that decoding valid input never spends time formatting locations.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = []

    def at(self, segment: str) -> InvalidError:
        self.segments.append(segment)
        return self

    def describe(self, root: str) -> str:
        return f"{root}{''.join(reversed(self.segments))}: {self.reason}"


class MsgpackMap(list[tuple[Any, Any]]):
    """A msgpack map as its pairs in wire order, so that duplicate keys can be rejected."""


def kind_of(raw: object) -> str:
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
    if isinstance(raw, MsgpackMap):
        return "map"
    if isinstance(raw, list):
        return "array"
    if isinstance(raw, float):
        return "float"
    return "ext"


KIND_TYPES: dict[str, type] = {
    "nil": type(None),
    "bool": bool,
    "int": int,
    "str": str,
    "bin": bytes,
    "map": MsgpackMap,
    "array": list,
}
"""The exact Python type msgpack decodes each kind to (`_unpack` makes maps `MsgpackMap`)."""


def mismatch(expected: str, raw: object) -> InvalidError:
    return InvalidError(f"expected {expected}, got {kind_of(raw)}")


@attrs.frozen
class Shape:
    """How values of one annotation travel: their msgpack kind and the two conversions.

    `encode` raises ValueError for a value that does not match the annotation (a programming
    error of the sender); `decode` raises `InvalidError` for untrusted input that does not.
    """

    kind: str
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    classes: frozenset[type] = frozenset()  # for kind "array": the attrs classes, told by tag


def scalar_shape(kind: str, python_type: type) -> Shape:
    # `type(...) is`, not isinstance: a bool is an int to Python, not to msgpack.
    if python_type is int:
        return Shape(kind, kind, encode_int, decode_int)

    def encode(value: Any) -> Any:
        if type(value) is not python_type:
            raise ValueError(f"expected {python_type.__name__}, got {type(value).__name__}")
        return value

    def decode(raw: Any) -> Any:
        if type(raw) is not python_type:
            raise mismatch(kind, raw)
        return raw

    return Shape(kind, kind, encode, decode)


def encode_int(value: Any) -> Any:
    if type(value) is not int:
        raise ValueError(f"expected int, got {type(value).__name__}")
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"int {value} does not fit in signed 64 bits")
    return value


def decode_int(raw: Any) -> Any:
    if type(raw) is not int:
        raise mismatch("int", raw)
    if not INT_MIN <= raw <= INT_MAX:
        raise InvalidError(f"int {raw} does not fit in signed 64 bits")
    return raw


SCALARS: dict[object, Shape] = {
    type(None): scalar_shape("nil", type(None)),
    bool: scalar_shape("bool", bool),
    int: scalar_shape("int", int),
    str: scalar_shape("str", str),
    bytes: scalar_shape("bin", bytes),
}


def locate_defect(
    decoders: Iterable[Callable[[Any], Any]], raws: Iterable[Any], labels: Iterable[str]
) -> InvalidError:
    """Decode the items again one by one and return the first defect, located by its label.

    Decoding is pure, so the item that failed on the fast path fails here the same way; valid
    input never comes this way, and so never pays for labelling every item.
    """
    for decode, raw, label in zip(decoders, raws, labels, strict=False):
        try:
            decode(raw)
        except InvalidError as defect:
            return defect.at(label)
    return InvalidError("an item failed to decode, then decoded")  # pragma: no cover


def index_labels(count: int) -> Iterator[str]:
    return (f"[{index}]" for index in range(count))
