"""The exceptions of the dynref client: every failure of a request is a `DynrefError`."""

from __future__ import annotations


class DynrefError(Exception):
    """Anything that went wrong with a request."""


class QuorumError(DynrefError):
    def __init__(self, needed: int, seen: int) -> None:
        super().__init__(f"quorum not reached: needed {needed} replicas, {seen} answered in time")
        self.needed = needed
        self.seen = seen


class InvalidContextError(DynrefError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid context: {reason}")
        self.reason = reason


class TooLargeError(DynrefError):
    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} too large: {size} bytes, the limit is {limit}")
        self.what, self.size, self.limit = what, size, limit


class InvalidRequestError(DynrefError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid request: {reason}")
        self.reason = reason


class UnavailableError(DynrefError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"unavailable: {reason}")
        self.reason = reason


class OverloadedError(DynrefError):
    """The node refused the request unseen, too busy to queue it: retrying later is safe."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"overloaded: {reason}")
        self.reason = reason


class NodeConnectionError(DynrefError, ConnectionError):
    """The node cannot be reached, closed the connection, or said something unintelligible."""


class RequestTimeoutError(DynrefError, TimeoutError):
    """The node did not answer in time (the outcome of a write is then unknown)."""
