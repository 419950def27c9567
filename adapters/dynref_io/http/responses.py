"""HTTP responses from the node's client results, in Riak's conventions (pure; docs/http.md).

- A context travels in `X-Riak-Vclock` as standard base64 of dynref's opaque context bytes.
- One visible value: 200 with the value as the body, its vtag as `Etag`.
- Siblings: 300 Multiple Choices; a `multipart/mixed` body with one part per sibling when the
  client accepts it, otherwise Riak's text list (`Siblings:` then one vtag a line); `?vtag=`
  picks one sibling.
- No visible value: 404 `not found`; a key whose context is not empty was deleted (REQ-CAUS-3:
  the tombstone's context survives), so the 404 says `X-Riak-Deleted: true` and carries it.
- A vtag is a name of a sibling's bytes (base64url of a 12-byte BLAKE2b digest), so equal
  values share one and a vtag stays valid across reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import attrs
from dynref.causality import Mode, VersionVector
from dynref.causality.context import decode_context
from dynref.messages import (
    ClientResult,
    GetOk,
    InvalidContext,
    InvalidRequest,
    PutOk,
    QuorumNotReached,
    TooLarge,
    Unavailable,
)

from dynref_io.http.routes import HttpError

VALUE_TYPE = "application/octet-stream"
TEXT_TYPE = "text/plain"
CONTEXT_HEADER = "X-Riak-Vclock"
Headers = tuple[tuple[str, str], ...]


@attrs.frozen
class Response:
    status: int
    headers: Headers = ()
    body: bytes = b""


def text_response(status: int, message: str, headers: Headers = ()) -> Response:
    return Response(status, (("Content-Type", TEXT_TYPE), *headers), message.encode() + b"\n")


def error_response(error: HttpError) -> Response:
    return text_response(error.status, error.message)


# ---------------------------------------------------------------- contexts and vtags


def encode_context_header(context: bytes) -> str:
    return base64.b64encode(context).decode("ascii")


def decode_context_header(values: list[bytes]) -> bytes | HttpError:
    """The context bytes of a request's `X-Riak-Vclock` (absent: the empty context)."""
    if not values:
        return b""
    if len(values) > 1:
        return HttpError(400, f"{CONTEXT_HEADER} is given more than once")
    try:
        return base64.b64decode(values[0], validate=True)
    except (binascii.Error, ValueError):
        return HttpError(400, f"Bad {CONTEXT_HEADER}: not base64")


def vtag(value: bytes) -> str:
    digest = hashlib.blake2b(value, digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def is_tombstone_context(mode: Mode, context: bytes) -> bool:
    """Whether a read that saw no value saw a delete: its context names some write."""
    decoded = decode_context(mode, context)
    return isinstance(decoded, VersionVector) and bool(decoded.entries)


# ---------------------------------------------------------------- multipart


def multipart_boundary(values: tuple[bytes, ...]) -> str:
    """A boundary that occurs in no value: derived from the values, re-derived on a clash."""
    seed = hashlib.blake2b(b"\0".join(values), digest_size=15).digest()
    attempt = 0
    while True:
        boundary = base64.b32encode(hashlib.blake2b(seed + bytes([attempt])).digest()[:15])
        text = boundary.decode("ascii")
        if not any(boundary in value for value in values):
            return text
        attempt += 1


def multipart_body(values: tuple[bytes, ...], boundary: str) -> bytes:
    """One part per value, each with its Content-Type and Etag, then the closing delimiter."""
    delimiter = b"\r\n--" + boundary.encode("ascii")
    parts = [
        delimiter
        + f"\r\nContent-Type: {VALUE_TYPE}\r\nEtag: {vtag(value)}\r\n\r\n".encode("ascii")
        + value
        for value in values
    ]
    return b"".join(parts) + delimiter + b"--\r\n"


# ---------------------------------------------------------------- results


def read_response(
    result: ClientResult,
    mode: Mode,
    *,
    multipart: bool,
    chosen_vtag: str | None,
    status_of_one: int = 200,
) -> Response:
    """A fetch (or a store with returnbody): the object, its siblings, a tombstone, or why not."""
    if not isinstance(result, GetOk):
        return failure_response(result, "R")
    context = (CONTEXT_HEADER, encode_context_header(result.context))
    values = result.values
    if not values:
        if is_tombstone_context(mode, result.context):
            return text_response(404, "not found", (("X-Riak-Deleted", "true"), context))
        return text_response(404, "not found")
    if len(values) > 1 and chosen_vtag is not None:
        chosen = [value for value in values if vtag(value) == chosen_vtag]
        if not chosen:
            return text_response(400, f"VTag {chosen_vtag} failed to match an individual sibling")
        values = (chosen[0],)
    if len(values) == 1:
        headers = (("Content-Type", VALUE_TYPE), context, ("Etag", vtag(values[0])))
        return Response(status_of_one, headers, values[0])
    if multipart:
        boundary = multipart_boundary(values)
        content_type = ("Content-Type", f"multipart/mixed; boundary={boundary}")
        return Response(300, (content_type, context), multipart_body(values, boundary))
    listing = "".join(f"{vtag(value)}\n" for value in values)
    return Response(300, (("Content-Type", TEXT_TYPE), context), f"Siblings:\n{listing}".encode())


def failure_response(result: ClientResult, quorum: str) -> Response:
    """The status of a result that is not a success; `quorum` is "R" for reads, "W" for writes."""
    if isinstance(result, QuorumNotReached):
        return text_response(503, f"{quorum}-value unsatisfied: {result.needed}/{result.seen}")
    if isinstance(result, InvalidContext):
        return text_response(400, f"Bad {CONTEXT_HEADER}: {result.reason}")
    if isinstance(result, TooLarge):
        return text_response(
            413, f"{result.what} too large: {result.size} bytes, the limit is {result.limit}"
        )
    if isinstance(result, InvalidRequest):
        return text_response(400, result.reason)
    if isinstance(result, Unavailable):
        return text_response(503, f"unavailable: {result.reason}")
    return text_response(500, f"unexpected result {type(result).__name__}")


def write_response(result: ClientResult, created: str | None) -> Response:
    """A store or delete without returnbody: 204, or 201 with `Location` for a created key."""
    if not isinstance(result, PutOk):
        return failure_response(result, "W")
    if created is not None:
        return Response(201, (("Location", created),))
    return Response(204)
