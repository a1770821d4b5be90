"""The SQL copy (`backup.sql`), decided from the manifest alone: its checks, the archiver's NATS
user and consumer, its process in the local stack, and the table's statements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploykit.backup.archive import Record
from deploykit.backup.sqlcopy import (
    INSERT,
    batch_of,
    database_statements,
    record_of,
)
from deploykit.errors import ManifestError
from deploykit.jetstream.desired import archive_consumer_config, desired_state
from deploykit.laws.permissions import Permissions, UserRole, compile_authorization
from deploykit.local.plan import nats_users, plan_outputs, plan_services
from deploykit.local.state import DevState
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import archiver_wiring
from deploykit.stack.outputs import REDACTED
from deploykit.testing.clirun import cli

ROOT = Path(__file__).resolve().parents[2]
SRV = tuple(
    s
    for verb in ("PING", "INFO", "STATS")
    for s in (f"$SRV.{verb}", f"$SRV.{verb}.archiver-core", f"$SRV.{verb}.archiver-core.*")
)


def reference(**changes: object) -> dict[str, object]:
    document = yaml.safe_load((ROOT / "deploykit.yaml").read_text())
    return {**document, **changes}


def parse(document: dict[str, object]) -> Manifest:
    return parse_manifest(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def archived() -> Manifest:
    return parse(reference(backup={"sql": True}))


def problems(document: dict[str, object]) -> str:
    with pytest.raises(ManifestError) as caught:
        parse(document)
    return str(caught.value)


def test_off_by_default_and_on_only_for_backed_up_streams(archived: Manifest) -> None:
    assert parse(reference()).sql_archived() == {}
    assert archived.sql_archived() == {"core": ["ACCOUNTS"]}


def test_a_copy_of_nothing_is_refused() -> None:
    document = reference(backup={"sql": True})
    document["streams"]["ACCOUNTS"]["backup"] = False  # type: ignore[index]
    assert "backup.sql: no stream is marked `backup: true`" in problems(document)


def test_a_backed_up_work_queue_is_refused() -> None:
    document = reference(backup={"sql": True})
    document["streams"]["ACCOUNTS"]["retention"] = "workqueue"  # type: ignore[index]
    assert "streams.ACCOUNTS.retention: a work queue hands each message" in problems(document)


def test_the_kit_names_are_reserved() -> None:
    document = reference()
    document["databases"]["deploykit_archive"] = {}  # type: ignore[index]
    assert "databases.deploykit_archive: deploykit_archive" in problems(document)
    document = reference()
    document["services"]["archiver-core"] = document["services"].pop("projector")  # type: ignore[attr-defined]
    assert "the name of one of deploykit's NATS users" in problems(document)
    document = reference()
    document["services"]["welcome"]["consumes"][0]["consumer"] = "deploykit-archiver"  # type: ignore[index]
    assert "'deploykit-archiver' is reserved for the archiver" in problems(document)


def test_the_archiver_may_only_pull_and_ack_its_own_consumer(archived: Manifest) -> None:
    authorization = compile_authorization(archived)
    assert "archiver-core" not in compile_authorization(parse(reference())).users
    assert "archiver-analytics" not in authorization.users  # no backed-up stream there
    user = authorization.users["archiver-core"]
    assert user.role is UserRole.ARCHIVER
    assert authorization.account_of("archiver-core") == "core"
    assert user.permissions == Permissions(
        publish_allow=(
            "$JS.API.CONSUMER.INFO.ACCOUNTS.deploykit-archiver",
            "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.deploykit-archiver",
            "$JS.ACK.ACCOUNTS.deploykit-archiver.>",
        ),
        subscribe_allow=(*SRV, "_INBOX_archiver-core.>"),
        allow_responses=True,
    )


def test_the_reconciler_declares_the_archivers_consumer(archived: Manifest) -> None:
    consumers = [o for o in desired_state(archived, "core", 3).objects if o.kind == "consumer"]
    ours = [o for o in consumers if o.consumer == "deploykit-archiver"]
    assert [(o.stream, o.config) for o in ours] == [("ACCOUNTS", archive_consumer_config())]
    config = archive_consumer_config()
    assert (config["ack_policy"], config["deliver_policy"], config["max_deliver"]) == (
        "explicit",
        "all",
        -1,
    )
    plain = desired_state(parse(reference()), "core", 3).objects
    assert not [o for o in plain if o.consumer == "deploykit-archiver"]


def dev_state() -> DevState:
    return DevState(
        manifest="deploykit.yaml",
        cluster_name="acme",
        nodes=1,
        nats_ports=[4222, 6222, 8222],
        postgres_port=5432,
        metrics_ports={"archiver-core": 9999},
    )


def test_the_local_stack_runs_one_archiver_per_archived_bus(archived: Manifest) -> None:
    state = dev_state()
    assert nats_users(archived)["archiver-core"].role == "archiver"
    outputs = plan_outputs(archived, state, ["nats://127.0.0.1:4222"], [])
    assert outputs.database and outputs.database.archive_url
    assert outputs.database.archive_url.startswith("postgresql://deploykit_archiver:")
    assert outputs.database.archive_url.endswith("@127.0.0.1:5432/deploykit_archive")
    assert outputs.redacted()["database"]["archive_url"] == REDACTED
    [run] = [r for r in plan_services(archived, outputs, state) if r.name == "archiver-core"]
    assert run.argv[1:] == ("-m", "deploykit.backup.archiver")
    assert (run.bus, run.database, run.port) == ("core", True, None)
    assert run.env["NATS_USER"] == "archiver-core"
    assert run.env["DATABASE_URL"] == outputs.database.archive_url
    assert run.env["DEPLOYKIT_METRICS_ADDR"] == "127.0.0.1:9999"
    wiring = json.loads(run.env["DEPLOYKIT_WIRING"])
    assert wiring == json.loads(archiver_wiring(archived, "core").model_dump_json())
    assert list(wiring["consumes"]) == ["ACCOUNTS"]
    assert wiring["consumes"]["ACCOUNTS"]["consumer"] == "deploykit-archiver"
    plain = parse(reference())
    plain_outputs = plan_outputs(plain, state, ["nats://127.0.0.1:4222"], [])
    assert plain_outputs.database and plain_outputs.database.archive_url is None
    assert not [r for r in plan_services(plain, plain_outputs, state) if r.name.startswith("arch")]


def test_the_table_is_append_only_by_its_grants() -> None:
    text = " ".join(s.as_string(None) for s in database_statements())  # type: ignore[arg-type]
    assert 'GRANT SELECT, INSERT ON "deploykit_events" TO "deploykit_archiver"' in text
    assert 'ALTER TABLE "deploykit_events" OWNER TO "deploykit_archive_owner"' in text
    assert "PRIMARY KEY (stream, seq)" in text
    assert INSERT.endswith("ON CONFLICT (stream, seq) DO NOTHING")


def test_a_row_gives_back_the_record() -> None:
    record = Record(7, 1_733_450_000_123_456_000, "accounts.events.created", {"A": "1"}, b"x")
    bare = Record(8, 1_000, "s", None, b"")
    stream, seqs, subjects, headers, payloads, times = batch_of("ACCOUNTS", [record, bare])
    assert (stream, seqs, subjects, payloads) == (
        "ACCOUNTS",
        [7, 8],
        [record.subject, "s"],
        [b"x", b""],
    )
    assert headers[0].obj == {"A": "1"} and headers[1] is None
    assert record_of((7, times[0], record.subject, headers[0].obj, b"x")) == record
    assert record_of((8, times[1], "s", None, b"")) == bare


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--into", "X"], "give a SNAPSHOT folder, or --from-sql --stream NAME"),
        (["some-folder", "--from-sql", "--stream", "ACCOUNTS", "--into", "X"], "(not both)"),
        (["--from-sql", "--into", "X"], "--stream NAME is required"),
        (["some-folder", "--stream", "ACCOUNTS", "--into", "X"], "--stream goes with --from-sql"),
    ],
)
def test_restore_refuses_a_mixed_or_missing_source(args: list[str], says: str) -> None:
    outcome = cli("restore", *args)
    assert outcome.code == 2 and says in outcome.text


def test_restore_from_sql_needs_a_stack_that_keeps_a_copy(tmp_path: Path) -> None:
    outputs = plan_outputs(parse(reference()), dev_state(), ["nats://127.0.0.1:4222"], [])
    path = tmp_path / "outputs.json"
    path.write_text(outputs.model_dump_json())
    outcome = cli(
        "restore", "--from-sql", "--stream", "ACCOUNTS", "--into", "X", "--outputs", str(path)
    )
    assert outcome.code == 2
    assert "name no SQL copy (database.archive_url); turn on `backup: {sql: true}`" in outcome.text


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"DEPLOYKIT_WIRING": '{"role": "worker"}'}, "consumes names no stream to archive"),
    ],
)
def test_the_archiver_refuses_a_bad_environment(
    archived: Manifest, change: dict[str, str], says: str
) -> None:
    """Exit 2 naming the variable, before it connects to anything."""
    env = {
        "PATH": os.environ["PATH"],
        "DEPLOYKIT_SERVICE": "archiver-core",
        "NATS_URL": "nats://127.0.0.1:1",
        "NATS_INBOX_PREFIX": "_INBOX_archiver-core",
        "DEPLOYKIT_WIRING": archiver_wiring(archived, "core").model_dump_json(),
        "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
        **change,
    }
    done = subprocess.run(
        [sys.executable, "-m", "deploykit.backup.archiver"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and says in done.stdout
