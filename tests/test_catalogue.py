"""docs/messages.md is generated from the message types and must match them."""

from __future__ import annotations

from pathlib import Path

import attrs
from dynref.catalogue import SECTIONS, render
from dynref.messages import MESSAGE_TYPES

DOC = Path(__file__).resolve().parent.parent / "docs" / "messages.md"


def test_the_message_catalogue_is_up_to_date() -> None:
    assert DOC.read_text() == render(), "run: python -m dynref.catalogue > docs/messages.md"


def test_the_catalogue_lists_every_message_and_field() -> None:
    text = render()
    listed = {cls for _, types in SECTIONS for cls in types}
    assert set(MESSAGE_TYPES) <= listed
    for cls in MESSAGE_TYPES:
        assert f"### {cls.__name__}" in text
        for field in attrs.fields(cls):
            assert f"`{field.name}`" in text
