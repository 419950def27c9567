"""The one-byte fast path of context decoding agrees with the careful decoder on any bytes."""

from __future__ import annotations

from dynref.causality import Mode, VersionVector, encode_context
from dynref.causality.context import _decode_entries, _one_byte_entries, _Reader
from hypothesis import given
from hypothesis import strategies as st

small_vectors = st.dictionaries(st.text(max_size=4), st.integers(0, 200), max_size=4).map(
    VersionVector.of
)


@st.composite
def near_valid(draw: st.DrawFn) -> bytes:
    """A dvv encoding of a small vector, maybe with one byte changed, added or removed."""
    raw = bytearray(encode_context(Mode.DVV, draw(small_vectors)))
    kind = draw(st.sampled_from(("keep", "flip", "insert", "delete")))
    at = draw(st.integers(2, len(raw)))
    if kind == "insert":
        raw.insert(at, draw(st.integers(0, 255)))
    elif kind != "keep" and at < len(raw):
        if kind == "flip":
            raw[at] = draw(st.integers(0, 255))
        else:
            del raw[at]
    return bytes(raw)


@given(st.one_of(near_valid(), st.binary(max_size=12).map(lambda tail: b"\x01\x01" + tail)))
def test_fast_path_accepts_only_what_the_careful_decoder_accepts_alike(raw: bytes) -> None:
    careful = _decode_entries(_Reader(raw, 2))
    fast = _one_byte_entries(raw)
    if fast is not None:
        assert careful == VersionVector(fast)


@given(small_vectors)
def test_fast_path_reads_every_small_context(vector: VersionVector) -> None:
    raw = encode_context(Mode.DVV, vector)
    if all(len(actor.encode()) < 0x80 for actor, _ in vector.entries):
        assert _one_byte_entries(raw) == (
            vector.entries if all(c < 0x80 for _, c in vector.entries) else None
        )
