"""Durable storage of a node's `DurableState`: SQLite for real nodes, memory for tests.

The runtime encodes each step's durable writes as it steps (`prepare`), hands `commit` those of
one or more steps (group commit, one transaction) and releases those steps' messages and replies
only after it returns: an acknowledgement never runs ahead of the disk (REQ-NODE-2). A write that
cannot be encoded fails its step alone; a commit that fails means the store cannot be written,
and the node stops (REQ-DUR-3). `load` rebuilds the durable state at start; a store that
cannot be read back exactly raises `StorageCorruption`, because a node must not start on a store
it cannot trust.

SQLite runs in WAL mode with `synchronous=FULL`. Under WAL, `NORMAL` skips the sync of the log at
each commit and syncs only at checkpoints: a power loss may then drop the last transactions, that
is writes the node already acknowledged. `FULL` syncs the log before each commit returns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import attrs
import immutables
from dynref.causality import AnyVersions
from dynref.membership import Membership
from dynref.messages import (
    DeleteHint,
    DropVersions,
    DurableWrite,
    StoreHint,
    StoreMembership,
    StoreMeta,
    StoreVersions,
)
from dynref.state import DurableState, Hints

from dynref_io.wire.codec import (
    DecodeError,
    decode_membership,
    decode_versions,
    encode_membership,
    encode_versions,
)

SCHEMA_VERSION = 2
"""Stored in SQLite's `user_version`; an older store is upgraded, a newer one refused."""

_MEMBERSHIP_TABLE = (
    "CREATE TABLE membership (id INTEGER PRIMARY KEY CHECK (id = 1), body BLOB NOT NULL)",
)
_SCHEMA = (
    # One row at most: the CHECK pins its id, so an upsert replaces it.
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), node_id TEXT NOT NULL,"
    " incarnation INTEGER NOT NULL, boots INTEGER NOT NULL)",
    "CREATE TABLE versions (key BLOB PRIMARY KEY, body BLOB NOT NULL)",
    "CREATE TABLE hints (target TEXT NOT NULL, key BLOB NOT NULL, body BLOB NOT NULL,"
    " PRIMARY KEY (target, key))",
    *_MEMBERSHIP_TABLE,
)
_UPGRADES = {1: _MEMBERSHIP_TABLE}
"""Schema version -> the statements that bring a store of that version to the next one."""
_UPSERT_META = (
    "INSERT INTO meta (id, node_id, incarnation, boots) VALUES (1, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id,"
    " incarnation = excluded.incarnation, boots = excluded.boots"
)
_UPSERT_VERSIONS = (
    "INSERT INTO versions (key, body) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET body = excluded.body"
)
_UPSERT_HINT = (
    "INSERT INTO hints (target, key, body) VALUES (?, ?, ?)"
    " ON CONFLICT (target, key) DO UPDATE SET body = excluded.body"
)
_DELETE_HINT = "DELETE FROM hints WHERE target = ? AND key = ?"
_DELETE_VERSIONS = "DELETE FROM versions WHERE key = ?"
_UPSERT_MEMBERSHIP = (
    "INSERT INTO membership (id, body) VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET body = excluded.body"
)


class StorageError(Exception):
    """The store cannot be used (closed, in use by another process, of an unknown schema) or
    cannot be written (disk full, read-only, I/O error): a node stops on it."""


class StorageCorruption(StorageError):  # noqa: N818 (a state of the store, not an error kind)
    """The store holds something that does not read back; the node must not start on it."""


class UnstorableWriteError(ValueError):
    """A durable write the store cannot represent: a value the codec refuses, an integer beyond
    SQLite's signed 64 bits. A defect of the write (and of the step that made it), not of the
    store: the runtime refuses that one step and goes on."""


Row = tuple[str, tuple[bytes | str | int, ...]]
"""One SQL statement and its parameters."""


@attrs.frozen
class PreparedWrites:
    """One step's durable writes and the rows they become, encoded before any transaction, so
    that a write the store cannot hold is found while its step can still be refused alone."""

    writes: tuple[DurableWrite, ...]
    rows: tuple[Row, ...]


def prepare(writes: Sequence[DurableWrite]) -> PreparedWrites:
    """Encode the writes for the store. Pure CPU, no I/O: safe on any thread."""
    try:
        rows = tuple(_row(write) for write in writes)
    except Exception as error:  # whatever the encoder refuses is this write's defect
        raise UnstorableWriteError(f"{type(error).__name__}: {error}") from error
    return PreparedWrites(tuple(writes), rows)


class Storage(Protocol):
    def load(self) -> DurableState | None:
        """The durable state stored, or None when no node was ever stored here."""
        ...

    def prepare(self, writes: Sequence[DurableWrite]) -> PreparedWrites:
        """Encode writes for `commit`; raises UnstorableWriteError for one it cannot hold."""
        ...

    def commit(self, batches: Sequence[PreparedWrites]) -> None:
        """Apply the batches in order as ONE transaction, all or none, durably before returning.
        Any exception means the store could not be written and holds none of the batches."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- in memory


@attrs.frozen
class _Image:
    """What a store holds, durable writes applied in order (the meta row may still be absent)."""

    meta: StoreMeta | None = None
    data: immutables.Map[bytes, AnyVersions] = immutables.Map()
    hints: Hints = immutables.Map()
    membership: Membership = Membership()

    def applied(self, write: DurableWrite) -> _Image:
        if isinstance(write, StoreVersions):
            return attrs.evolve(self, data=self.data.set(write.key, write.versions))
        if isinstance(write, DropVersions):
            if write.key not in self.data:
                return self
            return attrs.evolve(self, data=self.data.delete(write.key))
        if isinstance(write, StoreMembership):
            return attrs.evolve(self, membership=write.membership)
        if isinstance(write, StoreHint):
            held = self.hints.get(write.target, immutables.Map())
            held = held.set(write.key, write.versions)
            return attrs.evolve(self, hints=self.hints.set(write.target, held))
        if isinstance(write, DeleteHint):
            found = self.hints.get(write.target)
            if found is None or write.key not in found:
                return self
            left = found.delete(write.key)
            # The core drops a target with no hints left; so does the image, to compare equal.
            hints = self.hints.set(write.target, left) if left else self.hints.delete(write.target)
            return attrs.evolve(self, hints=hints)
        if isinstance(write, StoreMeta):
            return attrs.evolve(self, meta=write)
        raise TypeError(f"not a durable write: {type(write).__name__}")

    def durable_state(self, where: str) -> DurableState | None:
        if self.meta is None:
            if self.data or self.hints:
                raise StorageCorruption(f"{where} holds versions or hints but no node identity")
            return None
        return DurableState(
            node_id=self.meta.node_id,
            incarnation=self.meta.incarnation,
            boots=self.meta.boots,
            data=self.data,
            hints=self.hints,
            membership=self.membership,
        )


class MemoryStorage:
    """The `Storage` interface in memory: for tests and the simulator. Nothing survives the
    process, but everything survives `close` and a new `load`, like a disk across a crash."""

    def __init__(self) -> None:
        self._image = _Image()

    def load(self) -> DurableState | None:
        return self._image.durable_state("the memory store")

    def prepare(self, writes: Sequence[DurableWrite]) -> PreparedWrites:
        return prepare(writes)  # encoded as SQLite would, so that tests meet the same refusals

    def commit(self, batches: Sequence[PreparedWrites]) -> None:
        image = self._image
        for batch in batches:
            for write in batch.writes:
                image = image.applied(write)
        self._image = image  # only once every write applied: a bad batch changes nothing

    def apply(self, writes: Sequence[DurableWrite]) -> None:
        self.commit([self.prepare(writes)])

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- SQLite


class SqliteStorage:
    """A node's store in one SQLite file (created with its schema when missing).

    The connection holds SQLite's exclusive lock from opening to `close`, so a second process
    (or a second node pointed at the same file) fails at once instead of sharing the store.
    Calls may come from any thread, one at a time (a lock serialises them).
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Autocommit mode: transactions are begun and ended explicitly, never implicitly.
        connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=0
        )
        try:
            self._configure(connection)
        except sqlite3.OperationalError as error:
            connection.close()
            if "locked" in str(error):
                raise StorageError(f"{self._path} is in use by another process") from None
            raise StorageError(f"cannot open {self._path}: {error}") from None
        except BaseException:
            connection.close()
            raise
        self._connection: sqlite3.Connection | None = connection

    def _configure(self, connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode != "wal":
            raise StorageError(f"{self._path}: SQLite refused WAL mode (got {mode!r})")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA fullfsync = ON")  # macOS: fsync alone leaves the disk cache
        with _transaction(connection):
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version == 0:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                while version in _UPGRADES:
                    for statement in _UPGRADES[version]:
                        connection.execute(statement)
                    version += 1
                    connection.execute(f"PRAGMA user_version = {version}")
                if version != SCHEMA_VERSION:
                    raise StorageError(f"{self._path} has schema {version}, not {SCHEMA_VERSION}")

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StorageError(f"{self._path} is closed")
        return self._connection

    def load(self) -> DurableState | None:
        with self._lock:
            connection = self._open()
            with _transaction(connection):
                meta_rows = connection.execute(
                    "SELECT node_id, incarnation, boots FROM meta"
                ).fetchall()
                version_rows = connection.execute("SELECT key, body FROM versions").fetchall()
                hint_rows = connection.execute("SELECT target, key, body FROM hints").fetchall()
                membership_rows = connection.execute("SELECT body FROM membership").fetchall()
        image = _Image(meta=self._meta(meta_rows), membership=self._membership(membership_rows))
        data: dict[bytes, AnyVersions] = {}
        for key, body in version_rows:
            checked_key = self._key(key, "versions")
            data[checked_key] = self._versions(body, f"the versions of key {_shown(key)}")
        hints: dict[str, dict[bytes, AnyVersions]] = {}
        for target, key, body in hint_rows:
            if type(target) is not str:
                raise StorageCorruption(f"{self._path}: hint target {target!r} is not text")
            checked_key = self._key(key, "hints")
            where = f"the hint for {target!r:.80} of key {_shown(key)}"
            hints.setdefault(target, {})[checked_key] = self._versions(body, where)
        modes = {type(versions) for versions in data.values()}
        modes.update(type(versions) for held in hints.values() for versions in held.values())
        if len(modes) > 1:
            names = sorted(mode.__name__ for mode in modes)
            raise StorageCorruption(f"{self._path} mixes causality modes: {names}")
        image = attrs.evolve(
            image,
            data=immutables.Map(data),
            hints=immutables.Map({t: immutables.Map(held) for t, held in hints.items()}),
        )
        return image.durable_state(str(self._path))

    def _meta(self, rows: list[tuple[object, ...]]) -> StoreMeta | None:
        if not rows:
            return None
        node_id, incarnation, boots = rows[0]
        if type(node_id) is not str or type(incarnation) is not int or type(boots) is not int:
            raise StorageCorruption(f"{self._path}: malformed meta row {rows[0]!r}")
        return StoreMeta(node_id, incarnation, boots)

    def _membership(self, rows: list[tuple[object, ...]]) -> Membership:
        if not rows:
            return Membership()
        (body,) = rows[0]
        decoded = (
            decode_membership(body)
            if type(body) is bytes
            else DecodeError(f"a {type(body).__name__}, not a blob")
        )
        if isinstance(decoded, DecodeError):
            raise StorageCorruption(f"{self._path}: the membership is corrupt: {decoded.reason}")
        return decoded

    def _key(self, key: object, table: str) -> bytes:
        if type(key) is not bytes:
            raise StorageCorruption(f"{self._path}: key {_shown(key)} in {table} is not a blob")
        return key

    def _versions(self, body: object, where: str) -> AnyVersions:
        decoded = (
            decode_versions(body)
            if type(body) is bytes
            else DecodeError(f"a {type(body).__name__}, not a blob")
        )
        if isinstance(decoded, DecodeError):
            raise StorageCorruption(f"{self._path}: {where} is corrupt: {decoded.reason}")
        return decoded

    def prepare(self, writes: Sequence[DurableWrite]) -> PreparedWrites:
        return prepare(writes)

    def commit(self, batches: Sequence[PreparedWrites]) -> None:
        if not any(batch.rows for batch in batches):
            return  # nothing to make durable: skip the sync
        with self._lock:
            connection = self._open()
            try:
                with _transaction(connection):
                    for batch in batches:
                        for statement, parameters in batch.rows:
                            connection.execute(statement, parameters)
            except sqlite3.Error as error:  # disk full, read-only, I/O error, file gone
                raise StorageError(f"cannot write {self._path}: {error}") from error

    def apply(self, writes: Sequence[DurableWrite]) -> None:
        """Prepare and commit one batch (tools and tests; the runtime prepares step by step)."""
        self.commit([prepare(writes)])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _row(write: DurableWrite) -> Row:
    if isinstance(write, StoreVersions):
        return _UPSERT_VERSIONS, (write.key, encode_versions(write.versions))
    if isinstance(write, StoreHint):
        return _UPSERT_HINT, (write.target, write.key, encode_versions(write.versions))
    if isinstance(write, DeleteHint):
        return _DELETE_HINT, (write.target, write.key)
    if isinstance(write, StoreMeta):
        return _UPSERT_META, (write.node_id, _integer(write.incarnation), _integer(write.boots))
    if isinstance(write, DropVersions):
        return _DELETE_VERSIONS, (write.key,)
    if isinstance(write, StoreMembership):
        return _UPSERT_MEMBERSHIP, (encode_membership(write.membership),)
    raise TypeError(f"not a durable write: {type(write).__name__}")


def _integer(number: int) -> int:
    """An integer SQLite can bind (signed 64 bits): found now, not inside the transaction."""
    if not -(2**63) <= number < 2**63:
        raise OverflowError(f"{number} does not fit SQLite's 64-bit integers")
    return number


def _shown(key: object) -> str:
    """A key as an error message shows it: its repr, cut short (keys may be 1 KiB)."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One transaction, committed (and under synchronous=FULL synced) only if the body returns."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:  # SQLite may have rolled back already (disk full, I/O)
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


__all__ = [
    "SCHEMA_VERSION",
    "MemoryStorage",
    "PreparedWrites",
    "SqliteStorage",
    "Storage",
    "StorageCorruption",
    "StorageError",
    "UnstorableWriteError",
    "prepare",
]
