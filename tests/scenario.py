"""Simulator scenarios written by meaning: messages are picked by what they are, not by id.

A pinned schedule of `Deliver(7)` breaks as soon as the protocol sends one message more or one
less, although the story it tells is unchanged. These helpers name a message by its type and
endpoints (and key, where it has one), so a scenario states which messages matter and lets the
rest of the traffic be whatever the protocol makes it:

    cluster = deliver(cluster, ForwardPut, sender="n1", receiver="n2")
    cluster = drain(cluster)    # everything in flight, and what that sends, oldest first
"""

from __future__ import annotations

from dynref.sim import Cluster, InFlight


def matching(
    cluster: Cluster,
    kind: type,
    *,
    sender: str | None = None,
    receiver: str | None = None,
    key: bytes | None = None,
    carrying: bytes | None = None,
) -> list[int]:
    """Ids of the in-flight messages of type `kind` with these endpoints and key, oldest first;
    `carrying`: only those whose versions (or forwarded value) include that value."""

    def fits(envelope: InFlight) -> bool:
        message = envelope.message
        return (
            isinstance(message, kind)
            and sender in (None, envelope.sender)
            and receiver in (None, envelope.receiver)
            and (key is None or getattr(message, "key", None) == key)
            and (carrying is None or carrying in _values(message))
        )

    return [mid for mid in cluster.message_ids() if fits(cluster.in_flight[mid])]


def _values(message: object) -> tuple[bytes | None, ...]:
    versions = getattr(message, "versions", None)
    if versions is not None:
        return tuple(versions.values())
    return (getattr(message, "value", None),)


def _one(
    cluster: Cluster,
    kind: type,
    sender: str | None,
    receiver: str | None,
    key: bytes | None,
    carrying: bytes | None,
) -> int:
    found = matching(cluster, kind, sender=sender, receiver=receiver, key=key, carrying=carrying)
    assert found, f"no {kind.__name__} from {sender} to {receiver} in flight"
    return found[0]


def deliver(
    cluster: Cluster,
    kind: type,
    *,
    sender: str | None = None,
    receiver: str | None = None,
    key: bytes | None = None,
    carrying: bytes | None = None,
) -> Cluster:
    """Deliver the oldest in-flight message that fits (one must)."""
    return cluster.deliver(_one(cluster, kind, sender, receiver, key, carrying))


def duplicate(
    cluster: Cluster,
    kind: type,
    *,
    sender: str | None = None,
    receiver: str | None = None,
    key: bytes | None = None,
    carrying: bytes | None = None,
) -> Cluster:
    """Duplicate the oldest in-flight message that fits (one must); the copy stays in flight."""
    return cluster.duplicate(_one(cluster, kind, sender, receiver, key, carrying))


def deliver_all(
    cluster: Cluster,
    kind: type,
    *,
    sender: str | None = None,
    receiver: str | None = None,
    key: bytes | None = None,
    carrying: bytes | None = None,
) -> Cluster:
    """Deliver every in-flight message that fits (one at least), oldest first."""
    found = matching(cluster, kind, sender=sender, receiver=receiver, key=key, carrying=carrying)
    assert found, f"no {kind.__name__} from {sender} to {receiver} in flight"
    for mid in found:
        cluster = cluster.deliver(mid)
    return cluster


def drop_all(
    cluster: Cluster,
    kind: type,
    *,
    sender: str | None = None,
    receiver: str | None = None,
    key: bytes | None = None,
    carrying: bytes | None = None,
) -> Cluster:
    """Lose every in-flight message that fits."""
    for mid in matching(
        cluster, kind, sender=sender, receiver=receiver, key=key, carrying=carrying
    ):
        cluster = cluster.drop(mid)
    return cluster


def drain(cluster: Cluster, *, rounds: int = 100) -> Cluster:
    """Deliver everything in flight, oldest first, and what that sends, until nothing is."""
    for _ in range(rounds):
        if not cluster.in_flight:
            return cluster
        for mid in cluster.message_ids():
            cluster = cluster.deliver(mid)
    raise AssertionError(f"still {len(cluster.in_flight)} messages in flight after {rounds} rounds")
