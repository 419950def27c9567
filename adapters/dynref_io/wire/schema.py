"""The generic machinery of the wire format: attrs annotations compiled into strict encoders
and decoders of msgpack values (docs/wire-format.md).

A `Schema` walks the field annotations of the types it is given, once, and compiles each into a
pair of functions; no type has code of its own. Decoding is strict and total: any bytes give a
value or a `DecodeError`, and an object is built only from fields that were all checked against
their annotations, then checked against its invariants. `dynref_io.wire.codec` holds the schema of
dynref's wire types and frames them.
"""

from __future__ import annotations

import enum
import itertools
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs
import msgpack  # type: ignore[import-untyped]

from dynref_io.wire.frames import PROTOCOL_VERSION
from dynref_io.wire.shapes import (
    KIND_TYPES,
    SCALARS,
    DecodeError,
    InvalidError,
    MsgpackMap,
    Shape,
    index_labels,
    kind_of,
    locate_defect,
    mismatch,
)


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
        self._fields: dict[type, tuple[tuple[str, Shape], ...]] = {}
        self._shapes: dict[Any, Shape] = {}
        # Filled once every class is compiled; tagged shapes hold the dicts, not their entries.
        self._builders: dict[int, Callable[[list[Any], int], Any]] = {}
        self._field_encoders: dict[type, Callable[[Any], list[Any]]] = {}
        for cls in self._tag_of:
            self._fields_of(cls)
        for tag, cls in self._class_of.items():
            self._builders[tag] = self._compile_builder(cls)
            self._field_encoders[cls] = self._compile_field_encoder(cls)

    # ------------------------------------------------------------ compiling annotations

    def _fields_of(self, cls: type) -> tuple[tuple[str, Shape], ...]:
        compiled = self._fields.get(cls)
        if compiled is None:
            hints = typing.get_type_hints(cls)
            fields = attrs.fields(cls)
            if not all(field.init and not field.kw_only for field in fields):
                raise TypeError(f"{cls.__name__} must take every field positionally")
            compiled = tuple((field.name, self.shape(hints[field.name])) for field in fields)
            self._fields[cls] = compiled
        return compiled

    def shape(self, annotation: Any) -> Shape:
        """The compiled shape of a field annotation; TypeError when the wire cannot carry it."""
        compiled = self._shapes.get(annotation)
        if compiled is None:
            compiled = self._compile(annotation)
            self._shapes[annotation] = compiled
        return compiled

    def _compile(self, annotation: Any) -> Shape:
        scalar = SCALARS.get(annotation)
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

    def _enum(self, cls: type[enum.Enum]) -> Shape:
        value_types = {type(member.value) for member in cls}
        if len(value_types) != 1 or not value_types <= {int, str}:
            raise TypeError(f"enum {cls.__name__} needs values all int or all str")
        inner = SCALARS[value_types.pop()]

        def encode(value: Any) -> Any:
            if type(value) is not cls:
                raise ValueError(f"expected {cls.__name__}, got {type(value).__name__}")
            return value.value

        def decode(raw: Any) -> Any:
            try:
                return cls(inner.decode(raw))
            except ValueError:
                raise InvalidError(f"{raw!r} is not a {cls.__name__}") from None

        return Shape(inner.kind, cls.__name__, encode, decode)

    def _tagged(self, classes: frozenset[type]) -> Shape:
        for cls in classes:
            if cls not in self._tag_of:
                raise TypeError(f"{cls.__name__} travels on the wire but has no tag")
        names = " | ".join(sorted(cls.__name__ for cls in classes))
        tag_of = {cls: self._tag_of[cls] for cls in classes}
        tags = frozenset(tag_of.values())
        builders, field_encoders = self._builders, self._field_encoders

        def encode(value: Any) -> Any:
            tag = tag_of.get(type(value))
            if tag is None:
                raise ValueError(f"expected {names}, got {type(value).__name__}")
            encoded = field_encoders[type(value)](value)
            encoded.insert(0, tag)
            return encoded

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise mismatch(f"array ({names})", raw)
            if not raw:
                raise InvalidError(f"empty array where {names} was expected")
            tag = raw[0]
            if type(tag) is not int or tag not in tags:
                raise InvalidError(f"tag {tag!r} where {names} was expected")
            return builders[tag](raw, 1)

        return Shape("array", names, encode, decode, classes)

    def _homogeneous_tuple(self, item: Shape) -> Shape:
        encode_item, decode_item = item.encode, item.decode

        def encode(value: Any) -> Any:
            if type(value) is not tuple:
                raise ValueError(f"expected tuple, got {type(value).__name__}")
            return [encode_item(element) for element in value]

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise mismatch("array", raw)
            try:
                return tuple([decode_item(element) for element in raw])
            except InvalidError:
                decoders = itertools.repeat(decode_item)
                raise locate_defect(decoders, raw, index_labels(len(raw))) from None

        return Shape("array", f"tuple[{item.name}, ...]", encode, decode)

    def _fixed_tuple(self, items: tuple[Shape, ...]) -> Shape:
        arity = len(items)
        encoders = tuple(shape.encode for shape in items)
        decoders = tuple(shape.decode for shape in items)

        def encode(value: Any) -> Any:
            if type(value) is not tuple or len(value) != arity:
                raise ValueError(f"expected a tuple of {arity}, got {value!r:.80}")
            return [encode(element) for encode, element in zip(encoders, value, strict=True)]

        def decode(raw: Any) -> Any:
            if type(raw) is not list:
                raise mismatch("array", raw)
            if len(raw) != arity:
                raise InvalidError(f"expected an array of {arity}, got {len(raw)} items")
            try:
                return tuple([decode(item) for decode, item in zip(decoders, raw, strict=True)])
            except InvalidError:
                raise locate_defect(decoders, raw, index_labels(arity)) from None

        names = ", ".join(shape.name for shape in items)
        return Shape("array", f"tuple[{names}]", encode, decode)

    def _dict(self, key: Shape, value: Shape) -> Shape:
        if key.kind not in {"str", "bin"}:
            raise TypeError("map keys travel as str or bin only")

        def encode(mapping: Any) -> Any:
            if type(mapping) is not dict:
                raise ValueError(f"expected dict, got {type(mapping).__name__}")
            return {key.encode(k): value.encode(v) for k, v in mapping.items()}

        def decode(raw: Any) -> Any:
            if type(raw) is not MsgpackMap:
                raise mismatch("map", raw)
            decoded: dict[Any, Any] = {}
            for raw_key, raw_value in raw:
                try:
                    k = key.decode(raw_key)
                except InvalidError as defect:
                    raise defect.at(" (a key)") from None
                if k in decoded:
                    raise InvalidError(f"duplicate map key {k!r:.80}")
                try:
                    decoded[k] = value.decode(raw_value)
                except InvalidError as defect:
                    raise defect.at(f"[{k!r:.80}]") from None
            return decoded

        return Shape("map", f"dict[{key.name}, {value.name}]", encode, decode)

    def _union(self, members: tuple[Any, ...]) -> Shape:
        by_kind: dict[str, Shape] = {}
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
        # The member is told by the value's exact type, looked up rather than tested in turn:
        # msgpack decodes to exactly these types, and an encoded value's type decides its kind.
        decoder_of_type = {KIND_TYPES[kind]: shape.decode for kind, shape in by_kind.items()}
        encoder_of_type: dict[type, Callable[[Any], Any]] = {}

        def member_encoder(cls: type, value: Any) -> Callable[[Any], Any]:
            if isinstance(value, enum.Enum):
                kind = kind_of(value.value)
            elif isinstance(value, tuple) or attrs.has(cls):
                kind = "array"
            elif isinstance(value, dict):
                kind = "map"
            else:
                kind = kind_of(value)
            shape = by_kind.get(kind)
            if shape is None:
                raise ValueError(f"expected {names}, got {cls.__name__}")
            encoder_of_type[cls] = shape.encode
            return shape.encode

        def encode(value: Any) -> Any:
            cls = type(value)
            encode_member = encoder_of_type.get(cls) or member_encoder(cls, value)
            return encode_member(value)

        def decode(raw: Any) -> Any:
            decode_member = decoder_of_type.get(type(raw))
            if decode_member is None:
                raise mismatch(names, raw)
            return decode_member(raw)

        return Shape("/".join(by_kind), names, encode, decode)

    # ------------------------------------------------------------ attrs classes

    def _compile_field_encoder(self, cls: type) -> Callable[[Any], list[Any]]:
        """The function that encodes the fields of a `cls` in order."""
        fields = self._fields[cls]
        encoders = tuple((name, shape.encode) for name, shape in fields)

        def encode_fields(value: Any) -> list[Any]:
            try:
                return [encode(getattr(value, name)) for name, encode in encoders]
            except ValueError:
                pass
            for name, shape in fields:  # say which field, on this path only
                try:
                    shape.encode(getattr(value, name))
                except ValueError as error:
                    raise ValueError(f"{cls.__name__}.{name}: {error}") from None
            raise AssertionError("a field failed to encode, then encoded")  # pragma: no cover

        return encode_fields

    def _compile_builder(self, cls: type) -> Callable[[list[Any], int], Any]:
        """The function that checks `raw[start:]` against the fields of `cls`, builds the object
        and checks its invariants."""
        fields = self._fields[cls]
        arity = len(fields)
        decoders = tuple(shape.decode for _, shape in fields)
        labels = tuple(f".{name}" for name, _ in fields)
        check = self._well_formed.get(cls)

        def build(raw: list[Any], start: int) -> Any:
            if len(raw) - start != arity:
                raise InvalidError(f"{cls.__name__} has {arity} fields, got {len(raw) - start}")
            items = raw[start:] if start else raw
            try:
                values = [decode(item) for decode, item in zip(decoders, items, strict=True)]
            except InvalidError:
                raise locate_defect(decoders, items, labels) from None
            try:
                built = cls(*values)
            except Exception as error:  # a constructor or attrs validator refused the values
                raise InvalidError(f"{cls.__name__} refused its fields: {error}") from None
            problem = None if check is None else check(built)
            if problem is not None:
                raise InvalidError(f"{cls.__name__}: {problem}")
            return built

        return build

    # ------------------------------------------------------------ frame bodies

    def encode_body(self, obj: object) -> bytes:
        """The msgpack body of a frame; ValueError for an object that is not a frame type."""
        cls = type(obj)
        if cls not in self._frame_classes:
            raise ValueError(f"{cls.__name__} is not a wire frame type")
        message = [PROTOCOL_VERSION, self._tag_of[cls], *self._field_encoders[cls](obj)]
        return cast(bytes, msgpack.packb(message, use_bin_type=True))

    def decode_body(self, body: bytes) -> Any:
        """The object a frame body holds, or a `DecodeError`; never raises."""
        raw = _unpack(body)
        if isinstance(raw, DecodeError):
            return raw
        try:
            if type(raw) is not list or len(raw) < 2:
                raise InvalidError("a frame body is an array [version, tag, field...]")
            version, tag = raw[0], raw[1]
            if type(version) is not int or version != PROTOCOL_VERSION:
                raise InvalidError(f"unknown protocol version {version!r:.40}")
            cls = self._class_of.get(tag) if type(tag) is int else None
            if cls is None or cls not in self._frame_classes:
                raise InvalidError(f"unknown frame tag {tag!r:.40}")
        except InvalidError as defect:
            return DecodeError(defect.reason)
        try:
            return self._builders[tag](raw, 2)
        except InvalidError as defect:
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
        except InvalidError as defect:
            return DecodeError(defect.describe(what))


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(
            body, raw=False, use_list=True, strict_map_key=True, object_pairs_hook=MsgpackMap
        )
    except Exception as error:  # msgpack reports bad input with many exception types
        return DecodeError(f"not msgpack: {type(error).__name__}: {error}".rstrip(": "))
