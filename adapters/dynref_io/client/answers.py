"""What a node's answers mean to a client: results, errors raised for refusals, status fields."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import attrs
from dynref.messages import (
    AdminOk,
    ClientResult,
    GetOk,
    InvalidContext,
    InvalidRequest,
    PutOk,
    QuorumNotReached,
    TooLarge,
    Unavailable,
)

from dynref_io.client.errors import (
    InvalidContextError,
    InvalidRequestError,
    NodeConnectionError,
    OverloadedError,
    QuorumError,
    TooLargeError,
    UnavailableError,
)
from dynref_io.wire.codec import DecodeError
from dynref_io.wire.frames import (
    ClientReplyFrame,
    ErrorFrame,
    FaultReply,
    Overloaded,
    RingReply,
    StatusReply,
    WireObject,
)

DEFAULT_TIMEOUT_S = 10.0
TOKEN_ENVIRONMENT_VARIABLE = "DYNREF_CLIENT_TOKEN"
LIST_FIELDS = ("down", "isolated", "connected")
"""Status fields that travel as comma-separated node ids; `status()` returns them as lists."""

Data = bytes | str


@attrs.frozen
class GetResult:
    """Every sibling the read saw (empty when the key is absent or deleted), and its context."""

    values: tuple[bytes, ...]
    context: bytes


def tls_context(trusted: Path | str | None = None) -> ssl.SSLContext:
    """A TLS context that checks a node's certificate (and its host name) against `trusted`, a
    PEM file of certificates, or the system's authorities when None."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=trusted)


def to_bytes(data: Data) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def check_result(result: ClientResult) -> GetResult | None:
    """The value of a successful result; the matching exception for any other."""
    if isinstance(result, GetOk):
        return GetResult(result.values, result.context)
    if isinstance(result, PutOk):
        return None
    if isinstance(result, QuorumNotReached):
        raise QuorumError(result.needed, result.seen)
    if isinstance(result, InvalidContext):
        raise InvalidContextError(result.reason)
    if isinstance(result, TooLarge):
        raise TooLargeError(result.what, result.size, result.limit)
    if isinstance(result, InvalidRequest):
        raise InvalidRequestError(result.reason)
    if isinstance(result, Unavailable):
        raise UnavailableError(result.reason)
    raise NodeConnectionError(f"unexpected result {type(result).__name__}")


def admin_status(result: ClientResult) -> str:
    """An admin request's answer: the node's status in its membership now (joining, leaving);
    the matching exception for a refusal."""
    if isinstance(result, AdminOk):
        return result.status
    check_result(result)
    raise NodeConnectionError(f"a {type(result).__name__} answered an admin request")


def written_context(result: ClientResult) -> bytes:
    """A write's acknowledgement context; the matching exception for any other result."""
    if isinstance(result, PutOk):
        return result.context
    check_result(result)
    raise NodeConnectionError(f"a {type(result).__name__} answered a write")


def status_dict(reply: StatusReply) -> dict[str, Any]:
    status: dict[str, Any] = dict(reply.status)
    for name in LIST_FIELDS:
        text = status.get(name)
        if isinstance(text, str):
            status[name] = [node for node in text.split(",") if node]
    return status


ANSWER_TYPES = (ClientReplyFrame, StatusReply, FaultReply, RingReply, Overloaded)
"""The frames a node answers requests with; anything else ends the connection."""


def answer_id(frame: WireObject | DecodeError) -> int | None:
    return frame.request_id if isinstance(frame, ANSWER_TYPES) else None


def request_result(reply: WireObject, where: str) -> ClientResult:
    if isinstance(reply, Overloaded):
        raise OverloadedError(reply.reason)
    if not isinstance(reply, ClientReplyFrame):
        raise unexpected(reply, where)
    return reply.result


def unexpected(frame: WireObject | DecodeError | None, where: str) -> NodeConnectionError:
    if frame is None:
        return NodeConnectionError(f"{where} closed the connection")
    if isinstance(frame, ErrorFrame | DecodeError):
        return NodeConnectionError(f"{where} closed the connection: {frame.reason}")
    return NodeConnectionError(f"{where} sent an unexpected {type(frame).__name__}")
