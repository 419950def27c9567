"""Durable storage (SPEC section 9): SQLite and memory stores agree with each other and with the
durable state the core holds; batches are atomic; a corrupt store refuses to load."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs
import pytest
from dynref.causality import DvvSet, LwwRegister, Mode, VersionVector
from dynref.messages import (
    DURABLE_WRITE_TYPES,
    DeleteHint,
    DurableWrite,
    StoreHint,
    StoreMeta,
    StoreVersions,
)
from dynref.node import boot, recover
from dynref.state import DurableState
from dynref_io.storage.stores import (
    MemoryStorage,
    SqliteStorage,
    Storage,
    StorageCorruption,
    StorageError,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.test_codec import drive, versions_of


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "node.sqlite3"


def reopened(path: Path) -> Storage:
    """A fresh connection, as a restarted node gets."""
    return SqliteStorage(path)


def loaded(path: Path) -> DurableState | None:
    storage = reopened(path)
    try:
        return storage.load()
    finally:
        storage.close()


def sample(value: bytes = b"v") -> DvvSet:
    return DvvSet().write(value, VersionVector(), "n1#0", 1)


# ---------------------------------------------------------------- agreement


@st.composite
def batches(draw: st.DrawFn) -> list[list[DurableWrite]]:
    """Batches of durable writes over a few keys and targets, all of one causality mode."""
    versions = versions_of(draw(st.sampled_from(list(Mode))))
    keys = st.sampled_from([b"", b"a", b"b\x00", bytes(range(256))])
    targets = st.sampled_from(["n2", "n3", "nœud"])
    write = st.one_of(
        st.builds(StoreVersions, keys, versions),
        st.builds(StoreHint, targets, keys, versions),
        st.builds(DeleteHint, targets, keys),
        st.builds(StoreMeta, st.just("n1"), st.integers(0, 3), st.integers(0, 2**40)),
    )
    return draw(st.lists(st.lists(write, max_size=6), max_size=6))


@given(batches())
def test_sqlite_and_memory_stores_agree_on_any_batches(batches: list[list[DurableWrite]]) -> None:
    """REQ-STORE-1: any batches applied to SQLite load back, in a fresh connection, as the memory
    store holds them."""
    memory = MemoryStorage()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "node.sqlite3"
        storage = SqliteStorage(path)
        for batch in batches:
            storage.apply(batch)
            memory.apply(batch)
        has_meta = any(isinstance(write, StoreMeta) for batch in batches for write in batch)
        if has_meta:
            assert storage.load() == memory.load()
            storage.close()
            assert loaded(path) == memory.load()
        else:  # versions without a node identity: both refuse, or both hold nothing
            storage.close()
            try:
                expected = memory.load()
            except StorageCorruption:
                with pytest.raises(StorageCorruption):
                    loaded(path)
            else:
                assert expected is None and loaded(path) is None


@pytest.mark.parametrize("mode", list(Mode), ids=lambda mode: mode.value)
def test_stores_load_what_the_core_holds_after_real_steps(mode: Mode, tmp_path: Path) -> None:
    """REQ-STORE-1: the durable writes of real steps, applied in group-commit batches, load
    back as exactly the DurableState each node holds, and the node recovers from it."""
    net = drive(mode)
    hinted = [e for _, e in net.effects if isinstance(e, StoreHint | DeleteHint)]
    assert any(isinstance(e, StoreHint) for e in hinted)
    assert any(isinstance(e, DeleteHint) for e in hinted)
    for node, state in net.states.items():
        first = boot(net.config, node, 0, 0).effects  # Net.start keeps the state, not these
        writes: list[list[DurableWrite]] = [
            [e for e in result.effects if isinstance(e, DURABLE_WRITE_TYPES)]
            for name, _, result in net.steps
            if name == node
        ]
        sqlite, memory = SqliteStorage(tmp_path / f"{node}.sqlite3"), MemoryStorage()
        for storage in (sqlite, memory):
            storage.apply([e for e in first if isinstance(e, StoreMeta)])
            for start in range(0, len(writes), 3):  # three steps per commit
                storage.apply([w for batch in writes[start : start + 3] for w in batch])
        sqlite.close()
        durable = loaded(tmp_path / f"{node}.sqlite3")
        assert durable is not None
        assert durable == memory.load() == state.durable
        restarted = recover(net.config, durable, net.now).state.durable
        assert restarted == attrs.evolve(state.durable, boots=state.durable.boots + 1)


# ---------------------------------------------------------------- lifecycle


def test_an_empty_store_holds_no_node(db: Path) -> None:
    """REQ-STORE-1: a new directory has no node yet."""
    assert MemoryStorage().load() is None
    assert loaded(db) is None
    assert db.exists()


def test_a_store_reopens_after_close_and_keeps_growing(db: Path) -> None:
    """REQ-STORE-1: close, reopen, write more, reopen again."""
    storage = SqliteStorage(db)
    storage.apply([StoreMeta("n1", 7, 0), StoreVersions(b"a", sample(b"1"))])
    storage.close()
    storage.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="closed"):
        storage.apply([StoreVersions(b"b", sample())])
    storage = SqliteStorage(db)
    storage.apply([StoreMeta("n1", 7, 1), StoreVersions(b"b", sample(b"2"))])
    storage.apply([])
    storage.close()
    durable = loaded(db)
    assert durable is not None and (durable.incarnation, durable.boots) == (7, 1)
    assert dict(durable.data) == {b"a": sample(b"1"), b"b": sample(b"2")}


def test_the_store_uses_wal_with_full_sync_and_refuses_a_second_opener(db: Path) -> None:
    """REQ-STORE-2: WAL, synchronous=FULL, and one process per store."""
    storage = SqliteStorage(db)
    connection = storage._connection
    assert connection is not None
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    with pytest.raises(StorageError, match="in use"):
        SqliteStorage(db)
    storage.close()
    SqliteStorage(db).close()


# ---------------------------------------------------------------- atomicity


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_failing_batch_changes_nothing(kind: str, db: Path) -> None:
    """REQ-STORE-2: an error part-way through a batch rolls the whole batch back."""
    storage: Storage = MemoryStorage() if kind == "memory" else SqliteStorage(db)
    storage.apply([StoreMeta("n1", 0, 0), StoreVersions(b"a", sample(b"old"))])
    before = storage.load()
    poisons: list[object] = [object()]
    if kind == "sqlite":  # only SQLite encodes the versions
        poisons.append(StoreVersions(b"c", DvvSet(VersionVector((("n1#0", True),)))))
    for poison in poisons:
        batch = [StoreVersions(b"a", sample(b"new")), StoreMeta("n1", 0, 9), poison]
        with pytest.raises((TypeError, ValueError)):
            storage.apply(batch)  # type: ignore[arg-type]
        assert storage.load() == before
    storage.close()


WRITER = """
import sys
from dynref.causality import DvvSet, VersionVector
from dynref.messages import StoreMeta, StoreVersions
from dynref_io.storage.stores import SqliteStorage

storage = SqliteStorage(sys.argv[1])
generation = 0
while True:
    generation += 1
    versions = DvvSet().write(b"%d" % generation, VersionVector(), "n1#0", generation)
    batch = [StoreVersions(b"k%d" % i, versions) for i in range(10)]
    storage.apply([*batch, StoreMeta("n1", 0, generation)])
    print(generation, flush=True)
"""


def test_a_killed_writer_leaves_whole_batches_and_every_acknowledged_one(db: Path) -> None:
    """REQ-STORE-2: SIGKILL in the middle of a stream of batches: every batch apply returned
    from survives, and no batch survives in part."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    acknowledged = 0
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= 25:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    durable = loaded(db)
    assert durable is not None and durable.boots >= acknowledged >= 25
    expected = DvvSet().write(b"%d" % durable.boots, VersionVector(), "n1#0", durable.boots)
    assert dict(durable.data) == {b"k%d" % i: expected for i in range(10)}


# ---------------------------------------------------------------- corruption


def corrupt(db: Path, *statements: str) -> None:
    SqliteStorage(db).close()  # create the schema
    connection = sqlite3.connect(db)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


META = "INSERT INTO meta VALUES (1, 'n1', 0, 0)"
CORRUPTIONS = [
    ("garbage body", [META, "INSERT INTO versions VALUES (x'6b6579', x'c1')"], "b'key'"),
    ("text body", [META, "INSERT INTO versions VALUES (x'6b', 'text')"], "not a blob"),
    ("text key", [META, "INSERT INTO versions VALUES ('k', x'c0')"], "'k'"),
    ("hint body", [META, "INSERT INTO hints VALUES ('n2', x'6b', x'00')"], "'n2' of key b'k'"),
    ("versions without meta", ["INSERT INTO versions VALUES (x'6b', x'9242c0')"], "identity"),
    ("bad meta", ["INSERT INTO meta VALUES (1, 'n1', 'zero', 0)"], "malformed meta"),
]


@pytest.mark.parametrize(
    ("case", "statements", "named"), CORRUPTIONS, ids=[case for case, _, _ in CORRUPTIONS]
)
def test_a_corrupt_store_refuses_to_load_and_names_the_defect(
    case: str, statements: list[str], named: str, db: Path
) -> None:
    """REQ-STORE-3: a node must not start on a store it cannot read back exactly."""
    corrupt(db, *statements)
    with pytest.raises(StorageCorruption) as raised:
        loaded(db)
    assert named in str(raised.value), case


def test_a_store_mixing_causality_modes_refuses_to_load(db: Path) -> None:
    """REQ-STORE-3: versions of two modes in one store cannot come from one cluster."""
    storage = SqliteStorage(db)
    storage.apply(
        [StoreMeta("n1", 0, 0), StoreVersions(b"a", sample()), StoreVersions(b"b", LwwRegister())]
    )
    with pytest.raises(StorageCorruption, match="mixes causality modes"):
        storage.load()
    storage.close()


def test_a_store_of_another_schema_version_is_refused(db: Path) -> None:
    """REQ-STORE-3: an unknown schema is not guessed at."""
    corrupt(db, "PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="schema 99"):
        SqliteStorage(db)
