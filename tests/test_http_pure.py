"""The pure parts of the HTTP API: the bucket/key mapping, targets, contexts, responses, metrics."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
from urllib.parse import quote

import pytest
from dynref.causality import Mode, VersionVector
from dynref.causality.context import encode_context
from dynref.messages import GetOk, InvalidContext, PutOk, QuorumNotReached, TooLarge, Unavailable
from dynref_io.http.metrics import prometheus_text, stats_json
from dynref_io.http.responses import (
    decode_context_header,
    encode_context_header,
    multipart_body,
    multipart_boundary,
    read_response,
    vtag,
    write_response,
)
from dynref_io.http.routes import (
    Endpoint,
    HttpError,
    ObjectPath,
    accepts_multipart,
    flag_parameter,
    parse_target,
    percent_encode,
    quorum_parameter,
    split_store_key,
    store_key,
)
from hypothesis import given
from hypothesis import strategies as st

names = st.binary(min_size=1, max_size=24)


@given(bucket=names, key=names, other_bucket=names, other_key=names)
def test_the_store_key_of_a_bucket_and_key_is_unambiguous(
    bucket: bytes, key: bytes, other_bucket: bytes, other_key: bytes
) -> None:
    """REQ-HTTP-1: split inverts store_key, and distinct pairs never share a store key."""
    stored = store_key(bucket, key)
    assert split_store_key(stored) == (bucket, key)
    assert b"/" not in percent_encode(bucket)
    if (bucket, key) != (other_bucket, other_key):
        assert store_key(other_bucket, other_key) != stored


def test_store_keys_read_naturally_and_foreign_keys_split_to_nothing() -> None:
    """REQ-HTTP-1: plain names stay plain; a key no bucket made is not split."""
    assert store_key(b"users", b"alice") == b"users/alice"
    assert store_key(b"a/b c", b"k/1") == b"a%2Fb%20c/k/1"
    for foreign in (b"no-slash", b"a%2f/k", b"a b/k", b"%zz/k"):
        assert split_store_key(foreign) is None


@given(bucket=names, key=names, typed=st.booleans())
def test_any_bucket_and_key_percent_encoded_in_a_url_parse_back(
    bucket: bytes, key: bytes, typed: bool
) -> None:
    """REQ-HTTP-1: what a client's URL library escapes, the API decodes to the same bytes."""
    prefix = "/types/default" if typed else ""
    target = f"{prefix}/buckets/{quote(bucket, safe='')}/keys/{quote(key, safe='')}?r=2"
    parsed = parse_target(target.encode("ascii"))
    assert parsed == (ObjectPath(bucket, key, typed), {"r": "2"})
    assert not isinstance(parsed, HttpError)
    location = parsed[0].location(key)
    assert parse_target(location.encode()) == (ObjectPath(bucket, key, typed), {})


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        (b"/buckets/b/keys/%zz", 400, "malformed percent-encoding"),
        (b"/buckets/%4/keys/k", 400, "malformed percent-encoding"),
        (b"/buckets//keys/k", 400, "bucket name is empty"),
        (b"/buckets/b/keys/", 400, "key is empty"),
        (b"/types/maps/buckets/b/keys/k", 404, "Unknown bucket type: maps"),
        (b"/buckets/b/keys/k/extra", 404, "no such resource"),
        (b"/riak/b/k", 404, "no such resource"),
        (b"/", 404, "no such resource"),
        (b"buckets/b/keys/k", 400, "absolute path"),
        (b"/buckets/b/keys/k?r=1&r=2", 400, "given twice"),
        (b"/buckets/b/keys/k?%ff=1", 400, "UTF-8"),
        (b"/buckets/b/keys/k?r=%g1", 400, "malformed percent-encoding"),
    ],
)
def test_malformed_targets_are_refused_with_a_reason(
    target: bytes, status: int, message: str
) -> None:
    """REQ-HTTP-1: a path that names no object, or names one badly, never reaches the node."""
    parsed = parse_target(target)
    assert isinstance(parsed, HttpError)
    assert parsed.status == status and message in parsed.message


def test_endpoints_and_the_create_form_parse() -> None:
    assert parse_target(b"/ping") == (Endpoint("ping"), {})
    assert parse_target(b"/metrics?x") == (Endpoint("metrics"), {"x": ""})
    assert parse_target(b"/buckets/b/keys?returnbody=true") == (
        ObjectPath(b"b", None, False),
        {"returnbody": "true"},
    )
    assert parse_target(b"/buckets/b/keys/a+b?v=a+b") == (
        ObjectPath(b"b", b"a+b", False),  # "+" is a space in a query only
        {"v": "a b"},
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("default", None),
        ("one", 1),
        ("quorum", 3),
        ("all", 5),
        ("2", 2),
        ("0", 0),  # the node refuses it, naming N (REQ-COORD-1)
        ("-1", HttpError),
        ("two", HttpError),
        ("1.5", HttpError),
        ("9999999", HttpError),
        ("\u0663", HttpError),  # a digit, but not an ASCII one
    ],
)
def test_quorum_parameters_take_counts_and_riaks_words(value: str | None, expected: object) -> None:
    """REQ-HTTP-4: r and w as Riak takes them, anything else refused with 400."""
    parameters = {} if value is None else {"w": value}
    found = quorum_parameter(parameters, "w", 5)
    if expected is HttpError:
        assert isinstance(found, HttpError) and found.status == 400
    else:
        assert found == expected


def test_returnbody_is_true_or_false_only() -> None:
    assert flag_parameter({}, "returnbody") is False
    assert flag_parameter({"returnbody": "true"}, "returnbody") is True
    bad = flag_parameter({"returnbody": "yes"}, "returnbody")
    assert isinstance(bad, HttpError) and bad.status == 400


@pytest.mark.parametrize(
    ("accept", "multipart"),
    [
        (None, False),
        (b"*/*", False),
        (b"multipart/mixed", True),
        (b"text/html, Multipart/Mixed;q=0.5", True),
        (b"multipart/mixed;q=0", False),
        (b"multipart/mixed; q=junk, text/plain", False),
    ],
)
def test_multipart_is_chosen_when_accept_lists_it(accept: bytes | None, multipart: bool) -> None:
    assert accepts_multipart(accept) is multipart


@given(context=st.binary(max_size=64))
def test_contexts_round_trip_through_the_header(context: bytes) -> None:
    """REQ-HTTP-2: X-Riak-Vclock is standard base64 of the opaque context bytes."""
    header = encode_context_header(context)
    assert decode_context_header([header.encode("ascii")]) == context


@pytest.mark.parametrize("header", [b"!!", b"AQE", b"AQ E=", b"AQ==AQ=="])
def test_a_context_header_that_is_not_base64_is_a_400(header: bytes) -> None:
    """REQ-HTTP-2: refused before the node sees it."""
    refused = decode_context_header([header])
    assert isinstance(refused, HttpError) and refused.status == 400
    twice = decode_context_header([b"AQE=", b"AQE="])
    assert isinstance(twice, HttpError) and "more than once" in twice.message


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The parts of a multipart body as the standard library's MIME parser reads them."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((str(part["Etag"]), payload))
    return parts


@given(values=st.lists(st.binary(max_size=40), min_size=2, max_size=5).map(tuple))
def test_siblings_as_multipart_parse_back_with_the_standard_mime_parser(
    values: tuple[bytes, ...],
) -> None:
    """REQ-HTTP-3: one part per sibling, each with its vtag; the boundary is in no value."""
    boundary = multipart_boundary(values)
    assert not any(boundary.encode() in value for value in values)
    body = multipart_body(values, boundary)
    parsed = parse_multipart(f"multipart/mixed; boundary={boundary}", body)
    assert parsed == [(vtag(value), value) for value in values]


def test_the_boundary_avoids_a_value_that_contains_it() -> None:
    values = (b"a", b"b")
    first = multipart_boundary(values).encode()
    again = multipart_boundary((b"a", b"b" + first))
    assert again.encode() not in b"b" + first


def dvv_context(*entries: tuple[str, int]) -> bytes:
    return encode_context(Mode.DVV, VersionVector(entries))


def test_reads_answer_the_value_siblings_tombstones_and_not_found() -> None:
    """REQ-HTTP-3: 200, 300 (list or multipart), 404 with X-Riak-Deleted for a tombstone."""
    context = dvv_context(("n1#1", 2))
    header = ("X-Riak-Vclock", base64.b64encode(context).decode())
    one = read_response(GetOk((b"v",), context), Mode.DVV, multipart=False, chosen_vtag=None)
    assert one.status == 200 and one.body == b"v"
    assert header in one.headers and ("Etag", vtag(b"v")) in one.headers
    two = GetOk((b"a", b"b"), context)
    listed = read_response(two, Mode.DVV, multipart=False, chosen_vtag=None)
    assert listed.status == 300 and header in listed.headers
    assert listed.body == f"Siblings:\n{vtag(b'a')}\n{vtag(b'b')}\n".encode()
    chosen = read_response(two, Mode.DVV, multipart=False, chosen_vtag=vtag(b"b"))
    assert (chosen.status, chosen.body) == (200, b"b")
    missing = read_response(two, Mode.DVV, multipart=False, chosen_vtag="nope")
    assert missing.status == 400 and b"failed to match" in missing.body
    mixed = read_response(two, Mode.DVV, multipart=True, chosen_vtag=None)
    content_type = dict(mixed.headers)["Content-Type"]
    assert mixed.status == 300 and parse_multipart(content_type, mixed.body) == [
        (vtag(b"a"), b"a"),
        (vtag(b"b"), b"b"),
    ]
    deleted = read_response(GetOk((), context), Mode.DVV, multipart=False, chosen_vtag=None)
    assert deleted.status == 404 and ("X-Riak-Deleted", "true") in deleted.headers
    assert header in deleted.headers
    never = read_response(GetOk((), dvv_context()), Mode.DVV, multipart=False, chosen_vtag=None)
    assert never.status == 404 and never.body == b"not found\n"
    assert "X-Riak-Deleted" not in dict(never.headers)


def test_failures_map_to_riaks_status_codes() -> None:
    """REQ-HTTP-4: 503 for a quorum or an unavailable node, 400 for a context, 413 too large."""
    cases = [
        (QuorumNotReached(2, 1), 503, b"W-value unsatisfied: 2/1"),
        (Unavailable("no coordinator"), 503, b"unavailable"),
        (InvalidContext("foreign mode"), 400, b"Bad X-Riak-Vclock: foreign mode"),
        (TooLarge("value", 9, 8), 413, b"value too large: 9 bytes"),
    ]
    for result, status, text in cases:
        response = write_response(result, None)
        assert response.status == status and text in response.body
    get_failure = read_response(QuorumNotReached(3, 1), Mode.DVV, multipart=False, chosen_vtag=None)
    assert get_failure.status == 503 and b"R-value unsatisfied: 3/1" in get_failure.body
    assert write_response(PutOk(), None).status == 204
    created = write_response(PutOk(), "/buckets/b/keys/x")
    assert created.status == 201 and ("Location", "/buckets/b/keys/x") in created.headers


STATUS = {
    "node_id": 'n"1',
    "mode": "dvv",
    "incarnation": 7,
    "pid": 42,
    "now": 5,
    "keys": 3,
    "hints": 1,
    "boots": 0,
    "coordinated_puts": 4,
    "commits": 9,
    "a_new_counter": 2,
    "down": "n2,n3",
    "isolated": "",
    "connected": "n3",
}
LABEL = r'[a-z_]+="(?:[^"\\]|\\.)*"'
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{" + LABEL + "(," + LABEL + r")*\})? -?\d+$")


def test_metrics_are_prometheus_text_with_help_type_and_total_counters() -> None:
    """REQ-HTTP-6: every family has HELP and TYPE lines, counters end in _total, samples parse."""
    text = prometheus_text(STATUS, {("GET", 200): 5, ("PUT", 503): 1}).decode()
    families: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            families[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, line
            assert match.group(1) in families, line
    assert set(families) == helped
    for name, kind in families.items():
        assert (kind == "counter") == name.endswith("_total"), name
    assert families["dynref_coordinated_puts_total"] == "counter"
    assert families["dynref_keys"] == "gauge" and families["dynref_a_new_counter"] == "untyped"
    assert "dynref_peers_down 2" in text and "dynref_peers_connected 1" in text
    assert 'dynref_http_requests_total{method="PUT",code="503"} 1' in text
    assert 'node_id="n\\"1"' in text and "dynref_pid" not in text


def test_stats_are_json_with_peer_lists() -> None:
    """REQ-HTTP-6: /stats is the node's status as JSON, lists as arrays."""
    document = json.loads(stats_json(STATUS, {("GET", 200): 5}))
    assert document["down"] == ["n2", "n3"] and document["isolated"] == []
    assert document["keys"] == 3
    assert document["http_requests"] == [{"method": "GET", "code": 200, "count": 5}]
