"""A small JSON Schema (draft 2020-12) validator for the keywords spec/history.schema.json uses.

No validator is a dependency of the project, and the history schema needs only a handful of
keywords; any other keyword is refused loudly, so that a schema edit cannot be half-checked.
"""

from __future__ import annotations

import re
from typing import Any

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
KEYWORDS = {
    "$ref",
    "oneOf",
    "allOf",
    "if",
    "then",
    "else",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minimum",
    "minItems",
    "maxItems",
    "pattern",
}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(
    instance: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$"
) -> list[str]:
    """Every way `instance` breaks `schema` (empty when it is valid)."""
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise ValueError(f"the validator does not know {sorted(unknown)}")
    found: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        found += errors(instance, root["$defs"][name], root, path)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[kind](instance) for kind in kinds):
            return [*found, f"{path}: {instance!r} is not of type {kinds}"]
    if "const" in schema and (
        instance != schema["const"] or type(instance) is not type(schema["const"])
    ):
        found.append(f"{path}: {instance!r} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: {instance!r} is not one of {schema['enum']}")
    if isinstance(instance, dict):
        found += [
            f"{path}: {name!r} is required"
            for name in schema.get("required", ())
            if name not in instance
        ]
        properties = schema.get("properties", {})
        for name, value in instance.items():
            if name in properties:
                found += errors(value, properties[name], root, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: {name!r} is not allowed")
    if isinstance(instance, list):
        if "items" in schema:
            for index, item in enumerate(instance):
                found += errors(item, schema["items"], root, f"{path}[{index}]")
        if len(instance) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
    if "minimum" in schema and TYPES["integer"](instance) and instance < schema["minimum"]:
        found.append(f"{path}: {instance} is below {schema['minimum']}")
    if (
        "pattern" in schema
        and isinstance(instance, str)
        and not re.search(schema["pattern"], instance)
    ):
        found.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    for part in schema.get("allOf", ()):
        found += errors(instance, part, root, path)
    if "oneOf" in schema:
        matching = [part for part in schema["oneOf"] if not errors(instance, part, root, path)]
        if len(matching) != 1:
            found.append(f"{path}: matches {len(matching)} of the oneOf alternatives, not 1")
    if "if" in schema:
        branch = "then" if not errors(instance, schema["if"], root, path) else "else"
        if branch in schema:
            found += errors(instance, schema[branch], root, path)
    return found
