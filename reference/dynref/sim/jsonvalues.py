"""Plain-JSON forms of the simulator's values, driven by their type annotations.

- attrs instances become objects with a `"type"` member (the class name) and one member per
  field, so unions of classes decode unambiguously;
- bytes become lowercase hex strings (keys, values, contexts, digests);
- enums become their value; tuples and frozensets become lists (frozensets sorted);
- `immutables.Map` becomes a list of `[key, value]` pairs.

`from_json(kind, data)` reverses `to_json` given the expected type (`Operation`, `Action`,
`ClusterConfig`, ...). Decoding is strict: an unexpected shape raises `JsonShapeError`.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Any

import attrs
import immutables

Json = None | bool | int | str | list["Json"] | dict[str, "Json"]


class JsonShapeError(ValueError):
    """JSON that does not have the shape the expected type needs."""


def to_json(value: object) -> Json:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    if isinstance(value, frozenset):
        items = [to_json(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, immutables.Map):
        pairs: list[Json] = [[to_json(k), to_json(v)] for k, v in value.items()]
        return sorted(pairs, key=lambda pair: json.dumps(pair, sort_keys=True))
    cls = type(value)
    if attrs.has(cls):
        out: dict[str, Json] = {"type": cls.__name__}
        for field in attrs.fields(cls):
            out[field.name] = to_json(getattr(value, field.name))
        return out
    raise TypeError(f"no JSON form for {type(value).__name__}")


def from_json(kind: Any, data: Json) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if kind is Any:
        return data
    if kind is type(None):
        _expect(data is None, kind, data)
        return None
    if origin in (typing.Union, types.UnionType):
        return _from_union(args, data)
    if kind is bool:
        _expect(isinstance(data, bool), kind, data)
        return data
    if kind is int:
        _expect(isinstance(data, int) and not isinstance(data, bool), kind, data)
        return data
    if kind is str:
        _expect(isinstance(data, str), kind, data)
        return data
    if kind is bytes:
        _expect(isinstance(data, str), kind, data)
        assert isinstance(data, str)
        try:
            return bytes.fromhex(data)
        except ValueError as exc:
            raise JsonShapeError(f"not hex: {data!r}") from exc
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError as exc:
            raise JsonShapeError(f"{data!r} is no {kind.__name__}") from exc
    if origin is tuple:
        _expect(isinstance(data, list), kind, data)
        assert isinstance(data, list)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], item) for item in data)
        _expect(len(args) == len(data), kind, data)
        return tuple(from_json(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is frozenset:
        _expect(isinstance(data, list), kind, data)
        assert isinstance(data, list)
        return frozenset(from_json(args[0], item) for item in data)
    if origin is immutables.Map:
        _expect(isinstance(data, list), kind, data)
        assert isinstance(data, list)
        pairs = {}
        for pair in data:
            _expect(isinstance(pair, list) and len(pair) == 2, kind, data)
            assert isinstance(pair, list)
            pairs[from_json(args[0], pair[0])] = from_json(args[1], pair[1])
        return immutables.Map(pairs)
    if isinstance(kind, type) and attrs.has(kind):
        return _from_attrs(kind, data)
    raise TypeError(f"cannot decode JSON into {kind!r}")


def _expect(condition: bool, kind: Any, data: Json) -> None:
    if not condition:
        raise JsonShapeError(f"expected {getattr(kind, '__name__', kind)}, got {data!r}")


def _from_union(args: tuple[Any, ...], data: Json) -> Any:
    if data is None and type(None) in args:
        return None
    classes = [arg for arg in args if isinstance(arg, type) and attrs.has(arg)]
    if isinstance(data, dict) and classes:
        for cls in classes:
            if data.get("type") == cls.__name__:
                return _from_attrs(cls, data)
        raise JsonShapeError(
            f"type {data.get('type')!r} is none of {[c.__name__ for c in classes]}"
        )
    for arg in args:
        if arg is type(None):
            continue
        try:
            return from_json(arg, data)
        except (JsonShapeError, TypeError):
            continue
    raise JsonShapeError(f"{data!r} matches none of {args}")


def _from_attrs(cls: type, data: Json) -> Any:
    _expect(isinstance(data, dict) and data.get("type") == cls.__name__, cls, data)
    assert isinstance(data, dict)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in attrs.fields(cls):
        if field.name not in data:
            raise JsonShapeError(f"{cls.__name__} lacks {field.name!r}")
        kwargs[field.name] = from_json(hints[field.name], data[field.name])
    unknown = set(data) - {"type"} - set(kwargs)
    if unknown:
        raise JsonShapeError(f"{cls.__name__} has unknown members {sorted(unknown)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise JsonShapeError(f"invalid {cls.__name__}: {exc}") from exc
