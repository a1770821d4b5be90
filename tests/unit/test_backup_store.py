"""The snapshot stores' rules on a local folder: complete only with a manifest, retention keeps
exactly N, a running backup's partial is never removed, a dead one's is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploykit.backup.archive import MANIFEST, MESSAGES
from deploykit.backup.store import LocalStore, SnapshotStore, open_store, prune, snapshot_name
from deploykit.errors import ConfigError

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def take(store: SnapshotStore, stream: str, minutes: int) -> str:
    name = snapshot_name(stream, T0 + timedelta(minutes=minutes))
    writer = store.begin(name)
    writer.write_json("stream.json", {"config": {}})
    with writer.open(MESSAGES) as out:
        out.write(b"x" * 10)
    writer.commit({"stream": stream})
    return name


def test_retention_keeps_exactly_n_of_that_stream(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    taken = [take(store, "ORDERS", m) for m in range(5)]
    other = take(store, "ORDERS-EU", 0)  # another stream whose name starts the same
    deleted = prune(store, "ORDERS", 2, taken[-1])
    assert deleted == taken[:3]
    assert store.complete("ORDERS") == taken[3:]
    assert store.complete("ORDERS-EU") == [other]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*taken[3:], other])


def test_retention_never_deletes_the_snapshot_just_written(tmp_path: Path) -> None:
    """A clock set back names the new snapshot older than the others: it stays, and counts
    among the N kept (it holds the newest data)."""
    store = LocalStore(tmp_path)
    newer = [take(store, "ORDERS", m) for m in (10, 20, 30)]
    written = take(store, "ORDERS", 0)
    assert prune(store, "ORDERS", 2, written) == newer[:2]
    assert store.complete("ORDERS") == [written, newer[2]]
    with pytest.raises(ConfigError, match="at least 1"):
        prune(store, "ORDERS", 0, written)


def test_only_a_manifest_makes_a_snapshot_and_a_running_partial_is_left_alone(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    done = take(store, "ORDERS", 0)
    running = store.begin(snapshot_name("ORDERS", T0 + timedelta(minutes=1)))
    running.write_json("stream.json", {})
    assert store.complete("ORDERS") == [done]
    assert prune(store, "ORDERS", 1, done) == []
    assert store.remove_leftovers("ORDERS") == []  # its writer holds the lock
    assert (tmp_path / f"{snapshot_name('ORDERS', T0 + timedelta(minutes=1))}.partial").is_dir()
    running.abort()  # as a killed process: the lock goes, the folder stays
    assert store.remove_leftovers("ORDERS") == [snapshot_name("ORDERS", T0 + timedelta(minutes=1))]
    assert [p.name for p in tmp_path.iterdir()] == [done]
    assert (tmp_path / done / MANIFEST).is_file()
    assert oct((tmp_path / done / MESSAGES).stat().st_mode & 0o777) == "0o600"


def test_store_urls() -> None:
    assert isinstance(open_store("backups"), LocalStore)
    with pytest.raises(ConfigError, match="s3://BUCKET/PREFIX"):
        open_store("gs://bucket/x")
    with pytest.raises(ConfigError, match="expected s3://BUCKET"):
        open_store("s3:///nobucket")
