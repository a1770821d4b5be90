"""The snapshot format and the restored stream's config: pure, exact."""

from __future__ import annotations

import io

import pytest

from deploykit.backup.archive import (
    ContentSum,
    Record,
    SnapshotManifest,
    read_records,
    write_record,
)
from deploykit.backup.restore import restored_config


def test_records_round_trip_with_headers_and_empty_payloads() -> None:
    records = [
        Record(1, 1_700_000_000_000_000_000, "a.b", {"Nats-Msg-Id": "x", "k": "v"}, b"\x00\xff"),
        Record(3, 5, "a.c", None, b""),
    ]
    out = io.BytesIO()
    sizes = [write_record(out, r) for r in records]
    assert sum(sizes) == len(out.getvalue())
    assert list(read_records(io.BytesIO(out.getvalue()))) == records


def test_a_truncated_file_is_an_error_never_a_short_read() -> None:
    out = io.BytesIO()
    write_record(out, Record(1, 0, "a", None, b"payload"))
    with pytest.raises(ValueError, match="truncated record at sequence 1"):
        list(read_records(io.BytesIO(out.getvalue()[:-1])))
    with pytest.raises(ValueError, match="truncated record header"):
        list(read_records(io.BytesIO(out.getvalue()[:5])))


def test_the_content_sum_depends_on_subjects_payloads_and_order() -> None:
    def digest(*pairs: tuple[str, bytes]) -> str:
        s = ContentSum()
        for subject, data in pairs:
            s.add(subject, data)
        return s.hexdigest()

    base = digest(("a", b"1"), ("b", b"2"))
    assert base == digest(("a", b"1"), ("b", b"2"))
    assert base != digest(("b", b"2"), ("a", b"1"))
    assert base != digest(("a", b"1"), ("c", b"2"))
    assert digest(("a", b"1b")) != digest(("a1", b"b"))  # lengths are part of the sum


def _manifest(**changes: object) -> SnapshotManifest:
    fields: dict[str, object] = dict(
        system="acme",
        bus="core",
        stream="ACCOUNTS",
        created="2026-12-06T00:00:00+00:00",
        first_seq=41,
        last_seq=140,
        messages=100,
        bytes=10_000,
        gaps=0,
        file_sha256="f",
        content_sha256="c",
        consumers=[],
    )
    return SnapshotManifest.model_validate({**fields, **changes})


def test_a_restored_stream_listens_only_to_restore_subjects_and_keeps_sequences() -> None:
    original = {
        "name": "ACCOUNTS",
        "subjects": ["accounts.events.>"],
        "num_replicas": 3,
        "max_bytes": 1 << 30,
        "max_age": 0,
        "sources": [{"name": "X"}],
        "metadata": {"owner": "team"},
    }
    config = restored_config(original, "ACCOUNTS_R", _manifest(), "ACCOUNTS@t", max_replicas=1)
    assert config["name"] == "ACCOUNTS_R"
    assert config["subjects"] == ["deploykit.restore.ACCOUNTS_R.>"]
    assert config["subject_transform"] == {"src": "deploykit.restore.ACCOUNTS_R.>", "dest": ">"}
    assert config["first_seq"] == 41 and config["num_replicas"] == 1
    assert "sources" not in config
    assert config["metadata"] == {
        "owner": "team",
        "deploykit.restore.from": "ACCOUNTS@t",
        "deploykit.restore.status": "incomplete",
    }
    assert config["max_bytes"] == 1 << 20  # the floor: 2 * (10,000 + 100 * 256) is less
    big = restored_config(original, "R", _manifest(messages=10_000, bytes=10**6), "S@t", None)
    assert big["max_bytes"] == 2 * (10**6 + 10_000 * 256)
    assert original["name"] == "ACCOUNTS"  # the original document is not changed


def test_a_restored_stream_never_gets_more_bytes_than_the_original() -> None:
    config = restored_config({"name": "S", "max_bytes": 5000}, "R", _manifest(), "S@t", None)
    assert config["max_bytes"] == 5000


def test_ack_fields_reads_both_ack_subject_forms() -> None:
    from deploykit.backup.reader import ack_fields

    assert ack_fields("$JS.ACK.ORDERS.c1.1.42.7.1700000000000000001.3") == (
        42,
        1700000000000000001,
        3,
    )
    assert ack_fields("$JS.ACK.hub.ACCHASH.ORDERS.c1.1.42.7.1700000000000000001.0.xyz") == (
        42,
        1700000000000000001,
        0,
    )
