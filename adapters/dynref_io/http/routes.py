"""Request targets, query parameters and the bucket/key mapping of the HTTP API (pure).

dynref has no buckets: Riak's (bucket B, key K) is stored under the single key

    percent_encode(B) + b"/" + K

where `percent_encode` writes every byte of B outside RFC 3986's unreserved set
(A-Z a-z 0-9 - . _ ~) as %XX with upper-case hex. The encoded bucket never holds a "/", so the
first "/" of a store key ends it, and the encoding is canonical, so distinct pairs never share a
store key (REQ-HTTP-1). Bucket "users", key "alice" is the store key `users/alice`, which the
native client and `dynref get` reach under that name.
"""

from __future__ import annotations

import attrs

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
DEFAULT_TYPE = b"default"
MAX_QUORUM_DIGITS = 6
QUORUM_WORDS = ("one", "quorum", "all", "default")


@attrs.frozen
class HttpError:
    """A request the API refuses before it reaches the node: the status and a one-line reason."""

    status: int
    message: str


# ---------------------------------------------------------------- the bucket/key mapping


def percent_encode(raw: bytes) -> bytes:
    """Every byte outside the unreserved set as %XX (upper-case hex); the rest as it is."""
    return b"".join(bytes((byte,)) if byte in UNRESERVED else b"%%%02X" % byte for byte in raw)


def percent_decode(text: bytes, plus_is_space: bool = False) -> bytes | None:
    """%XX escapes (either case) to bytes, other bytes as they are; None for a broken escape."""
    if b"%" not in text and not (plus_is_space and b"+" in text):
        return text
    out = bytearray()
    index = 0
    while index < len(text):
        byte = text[index]
        if byte == ord("%"):
            pair = text[index + 1 : index + 3]
            if len(pair) != 2 or not set(pair) <= HEX_DIGITS:
                return None
            out.append(int(pair, 16))
            index += 3
            continue
        out.append(ord(" ") if plus_is_space and byte == ord("+") else byte)
        index += 1
    return bytes(out)


def store_key(bucket: bytes, key: bytes) -> bytes:
    """REQ-HTTP-1: the single store key of Riak's (bucket, key)."""
    return percent_encode(bucket) + b"/" + key


def split_store_key(stored: bytes) -> tuple[bytes, bytes] | None:
    """The (bucket, key) a store key was made from, or None if `store_key` makes no such key."""
    encoded, separator, key = stored.partition(b"/")
    bucket = percent_decode(encoded)
    if not separator or bucket is None or percent_encode(bucket) != encoded:
        return None
    return bucket, key


# ---------------------------------------------------------------- targets


@attrs.frozen
class ObjectPath:
    """`/buckets/B/keys[/K]`, or the same under `/types/default`; `key` None for POST-to-create."""

    bucket: bytes
    key: bytes | None
    typed: bool

    def location(self, key: bytes) -> str:
        """The path of `key` in this bucket, in the form the request used (for `Location`)."""
        prefix = "/types/default" if self.typed else ""
        bucket, encoded_key = percent_encode(self.bucket), percent_encode(key)
        return f"{prefix}/buckets/{bucket.decode('ascii')}/keys/{encoded_key.decode('ascii')}"


@attrs.frozen
class Endpoint:
    """One of the node's own resources: `ping`, `stats` or `metrics`."""

    name: str


Route = ObjectPath | Endpoint
ENDPOINTS = ("ping", "stats", "metrics")


def parse_target(target: bytes) -> tuple[Route, dict[str, str]] | HttpError:
    """The route and the query parameters of a request target, or why it names nothing."""
    path, _, query = target.partition(b"?")
    if not path.startswith(b"/"):
        return HttpError(400, "the request target must be an absolute path")
    parameters = parse_query(query)
    if isinstance(parameters, HttpError):
        return parameters
    route = parse_path(path)
    if isinstance(route, HttpError):
        return route
    return route, parameters


def parse_path(path: bytes) -> Route | HttpError:
    segments = path[1:].split(b"/")
    if len(segments) == 1 and segments[0].decode("ascii", "replace") in ENDPOINTS:
        return Endpoint(segments[0].decode("ascii"))
    typed = segments[0] == b"types"
    if typed:
        if len(segments) < 2:
            return HttpError(404, "no such resource")
        bucket_type = percent_decode(segments[1])
        if bucket_type is None:
            return HttpError(400, "malformed percent-encoding in the path")
        if len(segments) >= 5 and bucket_type != DEFAULT_TYPE:
            shown = bucket_type.decode("utf-8", "backslashreplace")
            return HttpError(404, f"Unknown bucket type: {shown}")
        segments = segments[2:]
    if len(segments) not in (3, 4) or segments[0] != b"buckets" or segments[2] != b"keys":
        return HttpError(404, "no such resource")
    bucket = percent_decode(segments[1])
    key = percent_decode(segments[3]) if len(segments) == 4 else None
    if bucket is None or (len(segments) == 4 and key is None):
        return HttpError(400, "malformed percent-encoding in the path")
    if not bucket:
        return HttpError(400, "the bucket name is empty")
    if key == b"":
        return HttpError(400, "the key is empty")
    return ObjectPath(bucket, key, typed)


def parse_query(query: bytes) -> dict[str, str] | HttpError:
    """`name=value&...` as form encoding decodes it; a name given twice is refused."""
    parameters: dict[str, str] = {}
    for pair in query.split(b"&") if query else ():
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name, value = percent_decode(raw_name, True), percent_decode(raw_value, True)
        if name is None or value is None:
            return HttpError(400, "malformed percent-encoding in the query")
        try:
            text_name, text_value = name.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            return HttpError(400, "query parameters must be UTF-8")
        if text_name in parameters:
            return HttpError(400, f"query parameter {text_name!r} is given twice")
        parameters[text_name] = text_value
    return parameters


# ---------------------------------------------------------------- parameters


def quorum_parameter(parameters: dict[str, str], name: str, n: int) -> int | HttpError | None:
    """r or w: a count, or Riak's one, quorum, all, default (None: the cluster's default)."""
    value = parameters.get(name)
    if value is None or value == "default":
        return None
    if value == "one":
        return 1
    if value == "quorum":
        return n // 2 + 1
    if value == "all":
        return n
    if value.isascii() and value.isdigit() and len(value) <= MAX_QUORUM_DIGITS:
        return int(value)
    words = ", ".join(QUORUM_WORDS)
    return HttpError(400, f"{name} must be a positive integer or one of {words}, got {value!r}")


def flag_parameter(parameters: dict[str, str], name: str) -> bool | HttpError:
    value = parameters.get(name, "false")
    if value not in ("true", "false"):
        return HttpError(400, f"{name} must be true or false, got {value!r}")
    return value == "true"


def accepts_multipart(accept: bytes | None) -> bool:
    """Whether an Accept header lists multipart/mixed with a non-zero q (parameters ignored)."""
    if accept is None:
        return False
    for media_range in accept.split(b","):
        media_type, *parameters = (part.strip() for part in media_range.split(b";"))
        if media_type.lower() != b"multipart/mixed":
            continue
        quality = b"1"
        for parameter in parameters:
            name, _, value = parameter.partition(b"=")
            if name.strip().lower() == b"q":
                quality = value.strip()
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            continue
    return False
