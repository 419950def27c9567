"""Who may talk to a node: the peer handshake, client tokens, TLS, and where a node without a
cluster secret may listen (REQ-WIRE-6, REQ-AUTH-1 to REQ-AUTH-3; docs/operations.md, "Trust model").

The handshake is a mutual challenge-response over the cluster secret. The connecting node sends
`PeerHello(its id, a fresh nonce, the cluster's name, the digest of its shared parameters)`;
the accepting node refuses a hello from another cluster, or one whose N, mode, ring or Merkle
depth differ (REQ-MEMBER-13), and otherwise the answers `PeerChallenge(its id, its own
fresh nonce, proof)`; the connecting node checks that proof and sends `PeerProof(proof)`; the
accepting node checks it and sends `PeerAccepted`. A proof is HMAC-SHA256 keyed by the secret
over a label, the prover's role, both node ids and both nonces, so a proof is good for one
connection, one direction and one pair of nodes only. Proofs and tokens are compared in constant
time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import socket
import ssl

import attrs
from dynref.config import ClusterConfig
from dynref.membership import config_digest

from dynref_io.client.native import tls_context
from dynref_io.node.config_file import ClusterFile, ConfigError, Security
from dynref_io.node.connections import ConnectionReader, RefusedError, rejection
from dynref_io.wire.codec import DecodeError, encode, read_frame
from dynref_io.wire.frames import (
    ErrorFrame,
    PeerAccepted,
    PeerChallenge,
    PeerHello,
    PeerProof,
    WireObject,
)

NONCE_BYTES = 32
PROOF_LABEL = b"dynref peer handshake v1"
ACCEPTOR = "acceptor"
CONNECTOR = "connector"
# Dead peers and vanished clients are found by the kernel: probe after a minute of silence.
KEEPALIVE_OPTIONS = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))


@attrs.frozen
class PeerCredentials:
    """What a node needs to open authenticated connections to its peers."""

    key: bytes
    cluster: str
    """The cluster's name."""
    params: bytes
    """The digest of the parameters every node of the cluster must share."""
    tls: ssl.SSLContext | None = None


class HandshakeError(Exception):
    """The node connected to did not complete the handshake (the reason says why)."""


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def peer_proof(
    key: bytes,
    role: str,
    connector: str,
    acceptor: str,
    connector_nonce: bytes,
    acceptor_nonce: bytes,
) -> bytes:
    """HMAC-SHA256 over the label, the prover's role, both ids and both nonces, each part
    length-prefixed so that no two different inputs share a message."""
    parts = (
        PROOF_LABEL,
        role.encode("utf-8"),
        connector.encode("utf-8"),
        acceptor.encode("utf-8"),
        connector_nonce,
        acceptor_nonce,
    )
    message = b"".join(len(part).to_bytes(4, "big") + part for part in parts)
    return hmac.new(key, message, hashlib.sha256).digest()


def token_matches(configured: str, presented: str) -> bool:
    # Digests first: compare_digest takes constant time only between inputs of equal length.
    return hmac.compare_digest(
        hashlib.sha256(configured.encode("utf-8")).digest(),
        hashlib.sha256(presented.encode("utf-8")).digest(),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, security: Security) -> None:
    """Without a secret anyone who reaches the port is a peer: only this machine may."""
    if security.secret is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: without a cluster secret a node listens on "
            "127.0.0.1 only (set secret or secret_file in the [security] table of the cluster "
            "file; `dynref cluster create` writes one)"
        )


def server_tls(security: Security) -> ssl.SSLContext | None:
    """The listener's TLS context, or None when the cluster file configures no TLS."""
    if security.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(security.tls_cert, security.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {security.tls_cert} and key {security.tls_key}: {exc}"
        ) from exc
    return context


def cluster_params(config: ClusterConfig) -> bytes:
    """The digest of the parameters every node of a cluster must share (REQ-MEMBER-13)."""
    return config_digest(config.n, config.mode, config.ring, config.merkle_depth)


def peer_credentials(cluster: ClusterFile) -> PeerCredentials:
    tls = _peer_tls(cluster.security)
    params = cluster_params(cluster.config)
    return PeerCredentials(cluster.security.secret_key, cluster.name, params, tls)


def _peer_tls(security: Security) -> ssl.SSLContext | None:
    trust = security.tls_trust
    try:
        return None if trust is None else tls_context(trust)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS trust file {trust}: {exc}") from exc


def check_node_security(host: str, security: Security, *, http: bool = False) -> None:
    """Every security setting a node would refuse at start, refused now: the bind address, the
    TLS files, an HTTP API that would bypass the client token or TLS (a ConfigError naming the
    problem)."""
    check_bind_address(host, security)
    server_tls(security)
    _peer_tls(security)
    if http and (security.client_token is not None or security.tls_cert is not None):
        raise ConfigError(
            "the HTTP API has neither client tokens nor TLS, and would bypass those of the "
            "cluster file: serve it (http_port, --http) only from a cluster without them"
        )


def enable_keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE_OPTIONS:
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# ---------------------------------------------------------------- the two sides of the handshake


async def accept_peer(
    hello: PeerHello,
    frames: ConnectionReader,
    writer: asyncio.StreamWriter,
    self_id: str,
    credentials: PeerCredentials,
) -> list[WireObject | DecodeError]:
    """Answer a `PeerHello`; return the frames that followed the peer's valid proof. Raises
    `RefusedError` when the other side belongs to another cluster or configuration, or cannot
    prove the cluster secret. A node id this node has not heard of yet is no reason: a joining
    node is one (the core refuses what a non-member sends, SPEC section 12)."""
    peer, key = hello.node_id, credentials.key
    if peer == self_id:
        raise RefusedError(f"{peer!r} is this node's own id", authentication=True)
    if hello.cluster != credentials.cluster:
        raise RefusedError(
            f"{peer} belongs to cluster {hello.cluster!r}, this node to {credentials.cluster!r}",
            authentication=True,
        )
    if hello.params != credentials.params:
        raise RefusedError(
            f"{peer} has another configuration: N, mode, ring strategy, tokens or partitions, "
            "or Merkle depth differ from this node's (every node must read the same cluster "
            "file)",
            authentication=True,
        )
    if frames.pending:
        raise RefusedError("frames sent before the handshake completed", authentication=True)
    if len(hello.nonce) != NONCE_BYTES:
        raise RefusedError(f"a handshake nonce has {NONCE_BYTES} bytes", authentication=True)
    nonce = new_nonce()
    proof = peer_proof(key, ACCEPTOR, peer, self_id, hello.nonce, nonce)
    writer.write(encode(PeerChallenge(self_id, nonce, proof)))
    batch = await frames.next_batch(frames.read_deadline_s)
    if not batch:
        raise ConnectionResetError("closed during the handshake")
    answer, rest = batch[0], batch[1:]
    if not isinstance(answer, PeerProof):
        raise RefusedError(rejection(answer, "PeerProof"), authentication=True)
    expected = peer_proof(key, CONNECTOR, peer, self_id, hello.nonce, nonce)
    if not hmac.compare_digest(expected, answer.proof):
        raise RefusedError(f"{peer} did not prove the cluster secret", authentication=True)
    writer.write(encode(PeerAccepted()))
    return rest


async def greet_peer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    self_id: str,
    peer: str,
    credentials: PeerCredentials,
) -> None:
    """Open a connection to `peer` as `self_id`: prove the secret and check the peer's proof.
    Raises `HandshakeError` (after telling the other side why, when it is our refusal)."""
    nonce, key = new_nonce(), credentials.key
    writer.write(encode(PeerHello(self_id, nonce, credentials.cluster, credentials.params)))
    challenge = await read_frame(reader)
    if not isinstance(challenge, PeerChallenge):
        raise HandshakeError(_unexpected(challenge, "PeerChallenge"))
    problem = None
    if challenge.node_id != peer:
        problem = f"the node at {peer}'s address is {challenge.node_id!r}"
    elif len(challenge.nonce) != NONCE_BYTES or not hmac.compare_digest(
        peer_proof(key, ACCEPTOR, self_id, peer, nonce, challenge.nonce), challenge.proof
    ):
        problem = f"{peer} did not prove the cluster secret"
    if problem is not None:
        writer.write(encode(ErrorFrame(problem)))
        raise HandshakeError(problem)
    proof = peer_proof(key, CONNECTOR, self_id, peer, nonce, challenge.nonce)
    writer.write(encode(PeerProof(proof)))
    accepted = await read_frame(reader)
    if not isinstance(accepted, PeerAccepted):
        raise HandshakeError(_unexpected(accepted, "PeerAccepted"))


def _unexpected(frame: WireObject | DecodeError | None, expected: str) -> str:
    if frame is None:
        return "it closed the connection during the handshake"
    if isinstance(frame, ErrorFrame):
        return f"it refused the handshake: {frame.reason}"
    return rejection(frame, expected)
