"""Strict reading of one JSON object's fields, for the history reader (`dynref.history.jsonl`).

`Fields` takes a record's fields one at a time, each checked for its type and range; `done`
refuses whatever is left over. Every defect is a `HistoryFormatError` naming the line and the
field, in one line of text.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from dynref.causality import Mode
from dynref.history.records import FaultKind, OpKind, Outcome

E = TypeVar("E", bound="OpKind | Outcome | FaultKind | Mode")


class HistoryFormatError(ValueError):
    """A history line that does not follow the format: where, which field, and what is wrong."""

    def __init__(self, line: int, field: str | None, problem: str) -> None:
        where = f"line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")
        self.line = line
        self.field = field
        self.problem = problem


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateFieldError(key)
        found[key] = value
    return found


class DuplicateFieldError(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class Fields:
    """Takes a record's fields one by one, checking each; `done` rejects any left over."""

    def __init__(self, line: int, record: dict[str, Any], prefix: str = "") -> None:
        self.line = line
        self.record = dict(record)
        self.prefix = prefix

    def error(self, field: str | None, problem: str) -> HistoryFormatError:
        name = None if field is None else self.prefix + field
        return HistoryFormatError(self.line, name, problem)

    def take(self, field: str, required: bool) -> Any:
        if field not in self.record or self.record[field] is None:
            self.record.pop(field, None)
            if required:
                raise self.error(field, "missing")
            return None
        return self.record.pop(field)

    def text(self, field: str, *, required: bool = True) -> str | None:
        value = self.take(field, required)
        if value is not None and not isinstance(value, str):
            raise self.error(field, f"expected a string, got {json.dumps(value)}")
        return value

    def required_text(self, field: str) -> str:
        value = self.text(field)
        assert value is not None
        return value

    def integer(self, field: str, *, required: bool = True, minimum: int = 0) -> int | None:
        value = self.take(field, required)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(field, f"expected an integer, got {json.dumps(value)}")
        if value < minimum:
            raise self.error(field, f"expected an integer of at least {minimum}, got {value}")
        return value

    def required_integer(self, field: str, minimum: int = 0) -> int:
        value = self.integer(field, minimum=minimum)
        assert value is not None
        return value

    def boolean(self, field: str) -> bool:
        value = self.take(field, True)
        if not isinstance(value, bool):
            raise self.error(field, f"expected true or false, got {json.dumps(value)}")
        return value

    def choice(self, field: str, kind: type[E]) -> E:
        value = self.take(field, True)
        allowed = [member.value for member in kind]
        if value not in allowed:
            raise self.error(field, f"expected one of {allowed}, got {json.dumps(value)}")
        return kind(value)

    def context(self, field: str) -> bytes | None:
        value = self.text(field, required=False)
        if value is None:
            return None
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise self.error(field, f"expected base64, got {json.dumps(value)}") from exc

    def texts(self, field: str) -> tuple[str, ...] | None:
        value = self.take(field, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(field, f"expected a list of strings, got {json.dumps(value)}")
        return tuple(value)

    def nested(self, field: str) -> Fields:
        value = self.take(field, True)
        if not isinstance(value, dict):
            raise self.error(field, f"expected an object, got {json.dumps(value)}")
        return Fields(self.line, value, f"{self.prefix}{field}.")

    def done(self) -> None:
        if self.record:
            extra = sorted(self.record)[0]
            raise self.error(extra, "unknown field")


def node_lists(fields: Fields, field: str, arity: int | None) -> tuple[tuple[str, ...], ...]:
    value = fields.take(field, False)
    if value is None:
        return ()
    shape = "pairs of node names" if arity else "lists of node names"
    if not isinstance(value, list) or not all(
        isinstance(item, list)
        and all(isinstance(node, str) for node in item)
        and (arity is None or len(item) == arity)
        for item in value
    ):
        raise fields.error(field, f"expected a list of {shape}, got {json.dumps(value)}")
    return tuple(tuple(item) for item in value)


__all__ = ["DuplicateFieldError", "Fields", "HistoryFormatError", "no_duplicates", "node_lists"]
