"""The client context's byte format: canonical, versioned, and total to decode (SPEC section 4)."""

from __future__ import annotations

import pytest
from dynref.causality import (
    INTEGER_LIMIT,
    Context,
    ContextError,
    LwwContext,
    Mode,
    VersionVector,
    decode_context,
    empty_context,
    encode_context,
)
from dynref.causality.context import append_varint
from hypothesis import given
from hypothesis import strategies as st

MODES = tuple(Mode)
CAUSAL_MODES = (Mode.DVV, Mode.VCLOCK)

actors = st.one_of(st.sampled_from(("n1#0", "n2#3", "")), st.text(max_size=6))
counters = st.one_of(st.integers(0, 2**40), st.just(INTEGER_LIMIT - 1))
vectors = st.dictionaries(actors, counters, max_size=5).map(VersionVector.of)
timestamps = st.one_of(
    st.integers(-(2**40), 2**40), st.sampled_from((INTEGER_LIMIT - 1, 1 - INTEGER_LIMIT))
)
stamps = st.builds(LwwContext, st.none() | st.tuples(timestamps, actors))


def contexts_of(mode: Mode) -> st.SearchStrategy[Context]:
    return stamps if mode is Mode.LWW else vectors


def leb128(number: int) -> bytes:
    out = bytearray()
    append_varint(out, number)
    return bytes(out)


def entry(actor: bytes, counter: bytes) -> bytes:
    return bytes((len(actor),)) + actor + counter


@st.composite
def mutated_encodings(draw: st.DrawFn) -> tuple[Mode, bytes]:
    """A valid encoding, then a few byte flips, insertions, deletions or a cut."""
    mode = draw(st.sampled_from(MODES))
    encoded_as = draw(st.sampled_from(MODES))
    raw = bytearray(encode_context(encoded_as, draw(contexts_of(encoded_as))))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        at = draw(st.integers(0, len(raw)))
        if kind == "insert":
            raw.insert(at, draw(st.integers(0, 255)))
        elif kind == "cut":
            del raw[at:]
        elif at < len(raw):
            if kind == "flip":
                raw[at] = draw(st.integers(0, 255))
            else:
                del raw[at]
    return mode, bytes(raw)


def test_req_ctx_1_the_layout_of_a_context() -> None:
    """REQ-CTX-1: format byte 1, mode byte, LEB128 count, (actor, counter) by actor; lww:
    nothing, or the zigzag LEB128 timestamp and the actor."""
    vv = VersionVector.of({"b": 300, "a": 1})
    payload = b"\x02" + entry(b"a", b"\x01") + entry(b"b", b"\xac\x02")
    assert encode_context(Mode.DVV, vv) == b"\x01\x01" + payload
    assert encode_context(Mode.VCLOCK, vv) == b"\x01\x02" + payload
    assert encode_context(Mode.LWW, LwwContext()) == b"\x01\x03"
    assert encode_context(Mode.LWW, LwwContext((300, "a"))) == b"\x01\x03\xd8\x04\x01a"
    assert encode_context(Mode.LWW, LwwContext((-1, "a"))) == b"\x01\x03\x01\x01a"
    assert encode_context(Mode.DVV, VersionVector()) == b"\x01\x01\x00"
    utf8 = encode_context(Mode.DVV, VersionVector.of({"é#0": 1}))
    assert utf8 == b"\x01\x01\x01" + entry("é#0".encode(), b"\x01")


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_req_ctx_1_the_empty_byte_string_is_the_empty_context(mode: Mode) -> None:
    """REQ-CTX-1: b"" (a client that never read) is the empty context of every mode."""
    assert decode_context(mode, b"") == empty_context(mode)
    assert decode_context(mode, encode_context(mode, empty_context(mode))) == empty_context(mode)


@given(st.sampled_from(MODES), st.binary(max_size=40))
def test_req_ctx_2_decoding_any_bytes_never_raises(mode: Mode, raw: bytes) -> None:
    """REQ-CTX-2: arbitrary bytes give a context or a ContextError with a reason."""
    decoded = decode_context(mode, raw)
    assert isinstance(decoded, VersionVector | LwwContext | ContextError)
    if isinstance(decoded, ContextError):
        assert decoded.reason


@given(mutated_encodings())
def test_req_ctx_2_decoding_mutated_encodings_never_raises(case: tuple[Mode, bytes]) -> None:
    """REQ-CTX-2 / REQ-CTX-3: mutants of valid encodings decode to an error with a reason,
    or to a context that re-encodes to exactly those bytes."""
    mode, raw = case
    decoded = decode_context(mode, raw)
    if isinstance(decoded, ContextError):
        assert decoded.reason
    elif raw:
        assert encode_context(mode, decoded) == raw


DVV = b"\x01\x01"
LWW = b"\x01\x03"


def case(raw: bytes, reason: str, name: str, mode: Mode = Mode.DVV) -> object:
    return pytest.param(mode, raw, reason, id=name)


DEFECTS = [
    case(b"\x02\x01\x00", "unknown format", "unknown-format"),
    case(b"\x00", "unknown format", "zero-format"),
    case(b"\x01\x07\x00", "unknown mode", "unknown-mode"),
    case(b"\x01\x02\x00", "foreign mode", "foreign-mode-vclock"),
    case(b"\x01\x03", "foreign mode", "foreign-mode-lww"),
    case(b"\x01", "truncated", "no-mode-byte"),
    case(DVV, "truncated", "no-count"),
    case(DVV + b"\x01", "truncated", "no-entry"),
    case(DVV + b"\x01\x03n1", "truncated", "short-actor"),
    case(DVV + b"\x01\x02n1", "truncated", "no-counter"),
    case(DVV + b"\x01\x02n1\x80", "truncated", "unfinished-counter"),
    case(DVV + b"\x00\x00", "trailing bytes", "trailing"),
    case(DVV + b"\x01" + entry(b"a", b"\x01") + b"!", "trailing bytes", "trailing-2"),
    case(
        DVV + b"\x02" + entry(b"b", b"\x01") + entry(b"a", b"\x01"),
        "non-canonical order",
        "unsorted",
    ),
    case(
        DVV + b"\x02" + entry(b"a", b"\x01") + entry(b"a", b"\x02"),
        "duplicate actor",
        "duplicate",
    ),
    case(DVV + b"\x01" + entry(b"\xff", b"\x01"), "bad utf-8", "bad-utf8"),
    case(DVV + b"\x01" + entry(b"\xed\xa0\x80", b"\x01"), "bad utf-8", "surrogate"),
    case(DVV + b"\x01" + entry(b"a", b"\x00"), "zero counter", "zero-counter"),
    case(DVV + b"\x01" + entry(b"a", b"\x81\x00"), "non-canonical varint", "overlong"),
    case(DVV + b"\x81\x00", "non-canonical varint", "overlong-count"),
    case(DVV + b"\x01" + entry(b"a", b"\xff" * 11), "varint too long", "long-varint"),
    # REQ-BOUND-2: the context that crashed a coordinator: a 10-byte counter.
    case(bytes.fromhex("0101010178ffffffffffffffffff01"), "varint too long", "ten-byte-varint"),
    case(DVV + b"\x01" + entry(b"a", leb128(INTEGER_LIMIT)), "not below 2**62", "huge-counter"),
    case(DVV + b"\x01" + entry(b"a", leb128(2**63 - 2)), "not below 2**62", "counter-2^63-2"),
    case(LWW + b"\x00", "truncated", "lww-no-actor", Mode.LWW),
    case(LWW + b"\x00\x01a!", "trailing bytes", "lww-trailing", Mode.LWW),
    case(LWW + b"\x80", "truncated", "lww-unfinished-timestamp", Mode.LWW),
    case(LWW + leb128(2 * INTEGER_LIMIT) + b"\x01a", "varint too long", "lww-huge", Mode.LWW),
    case(LWW + leb128(2 * INTEGER_LIMIT - 1) + b"\x01a", "not below 2**62", "lww-tiny", Mode.LWW),
    case(b"\x01\x01\x00", "foreign mode", "dvv-given-to-lww", Mode.LWW),
]


@pytest.mark.parametrize(("mode", "raw", "reason"), DEFECTS)
def test_req_ctx_2_each_defect_is_named(mode: Mode, raw: bytes, reason: str) -> None:
    """REQ-CTX-2: each malformation yields a ContextError whose reason names the defect."""
    decoded = decode_context(mode, raw)
    assert isinstance(decoded, ContextError)
    assert reason in decoded.reason


@pytest.mark.parametrize("mode", CAUSAL_MODES, ids=lambda m: m.value)
@given(vv=vectors)
def test_req_ctx_2_every_strict_prefix_is_truncated(mode: Mode, vv: VersionVector) -> None:
    """REQ-CTX-2: cutting a valid context anywhere reports truncation."""
    raw = encode_context(mode, vv)
    for cut in range(1, len(raw)):
        decoded = decode_context(mode, raw[:cut])
        assert isinstance(decoded, ContextError) and "truncated" in decoded.reason


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@given(data=st.data())
def test_req_ctx_3_encode_then_decode_gives_the_context_back(
    mode: Mode, data: st.DataObject
) -> None:
    """REQ-CTX-3: contexts round trip, lww's stamps too, up to the bounds of REQ-BOUND-2."""
    context = data.draw(contexts_of(mode))
    raw = encode_context(mode, context)
    decoded = decode_context(mode, raw)
    assert decoded == context
    assert encode_context(mode, decoded) == raw


@pytest.mark.parametrize("mode", CAUSAL_MODES, ids=lambda m: m.value)
def test_req_bound_2_every_varint_of_a_context_fits_nine_bytes(mode: Mode) -> None:
    """REQ-BOUND-2, REQ-CTX-1: the largest counter a context may carry, 2**62 - 1, takes 9
    LEB128 bytes; one more is refused."""
    assert len(leb128(INTEGER_LIMIT - 1)) == 9
    largest = VersionVector.of({"a": INTEGER_LIMIT - 1})
    assert decode_context(mode, encode_context(mode, largest)) == largest


@given(st.sampled_from(MODES), st.binary(max_size=24))
def test_req_ctx_3_decode_then_encode_gives_valid_bytes_back(mode: Mode, tail: bytes) -> None:
    """REQ-CTX-3: any non-empty bytes that decode re-encode to themselves (canonical)."""
    for raw in (tail, b"\x01" + bytes((list(MODES).index(mode) + 1,)) + tail):
        decoded = decode_context(mode, raw)
        if not isinstance(decoded, ContextError) and raw:
            assert encode_context(mode, decoded) == raw
