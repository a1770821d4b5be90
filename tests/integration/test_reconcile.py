"""The reconciler against real nats-servers (the session's single node and 3-node cluster).

The servers are shared with other tests, so every test uses its own stream names and
subjects, deletes what it made, and never prunes anything it did not create.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, ObjectStoreConfig

from deploykit.errors import PlanRefused
from deploykit.jetstream import ApplyError, JetStreamApi, Plan, apply, plan, plan_with, reconcile
from deploykit.jetstream.api import ApiError
from deploykit.jetstream.immutable import consumer_refusal, stream_refusal
from deploykit.local.nats import LocalNats
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import Manifest
from deploykit.testing.clirun import run_cli

pytestmark = pytest.mark.integration

S = 1_000_000_000
_ids = itertools.count(1)


def manifest_for(prefix: str, **overrides: Any) -> tuple[Manifest, str]:
    """A one-bus manifest: an R3 stream with a queue (and a fanout) consumer, a KV, a store."""
    s = {"max_age": "1h", "description": "events", "storage": "file", **overrides}
    text = f"""
version: 1
system: test
buses: {{core: {{}}}}
streams:
  {prefix}:
    subjects: ["{prefix.lower()}.>"]
    description: {s["description"]}
    max_age: {s["max_age"]}
    storage: {s["storage"]}
    replicas: 3
  {prefix}_LOG:
    subjects: ["{prefix.lower()}log.>"]
    replicas: 1
kv:
  {prefix.lower()}_kv: {{history: 2, replicas: 3}}
object_stores:
  {prefix.lower()}_obj: {{max_age: 1d}}
services:
  worker:
    role: worker
    consumes:
      - {{stream: {prefix}, consumer: work, mode: queue, ack_wait: {s.get("ack_wait", "30s")}}}
      - {{stream: {prefix}, consumer: feed, mode: fanout}}
"""
    return parse_manifest(text), f"{prefix.lower()}.x"


def ours(prefix: str) -> set[str]:
    low = prefix.lower()
    return {prefix, f"{prefix}_LOG", f"KV_{low}_kv", f"OBJ_{low}_obj"}


def run(cluster: LocalNats, body: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        conn = await nats.connect(cluster.urls)
        try:
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


@pytest.fixture(params=["nats_single", "nats_cluster"])
def server(request: pytest.FixtureRequest) -> LocalNats:
    return request.getfixturevalue(request.param)


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh stream name for the test; its objects are deleted afterwards."""
    name = f"T{next(_ids)}"
    yield name
    for fixture in ("server", "nats_single", "nats_cluster"):
        if fixture in request.fixturenames:
            cluster = request.getfixturevalue(fixture)

            async def clean(conn: Client, cluster: LocalNats = cluster) -> None:
                api = JetStreamApi(conn)
                for stream in ours(name) | {f"{name}_OLD"}:
                    if await api.stream_info(stream) is not None:
                        await api.delete_stream(stream)

            run(cluster, clean)


def only_ours(p: Plan, prefix: str) -> Plan:
    """The shared server holds other tests' streams: keep this test's steps and the smoke assets."""
    keep = ours(prefix) | {f"{prefix}_OLD", "DEPLOYKIT_SMOKE", "KV_deploykit_smoke"}
    keep |= {"OBJ_deploykit_smoke"}
    return dataclasses.replace(
        p,
        steps=tuple(s for s in p.steps if s.stream in keep),
        undeclared=tuple(u for u in p.undeclared if u.stream in keep),
    )


async def messages(api: JetStreamApi, stream: str) -> int:
    return (await api.request(f"STREAM.INFO.{stream}"))["state"]["messages"]


def test_apply_creates_everything_and_a_second_apply_changes_nothing(
    server: LocalNats, prefix: str
) -> None:
    manifest, _ = manifest_for(prefix)
    size = len(server.nodes)

    async def body(conn: Client) -> None:
        first = only_ours(await plan(conn, manifest, "core"), prefix)
        mine = [s for s in first.steps if s.stream in ours(prefix)]
        assert [(s.action, s.label) for s in mine] == [
            ("create", f"stream {prefix}"),
            ("create", f"consumer {prefix}/work"),
            ("create", f"stream {prefix}_LOG"),
            ("create", f"kv {prefix.lower()}_kv"),
            ("create", f"object_store {prefix.lower()}_obj"),
        ]
        result = await apply(conn, first)
        assert sorted(s.label for s in result.done) == sorted(s.label for s in first.steps)
        # one request per step, plus retries while a fresh cluster's meta leader settles
        assert result.mutations >= len(first.steps)

        api = JetStreamApi(conn)
        stream = await api.stream_info(prefix)
        assert stream is not None
        assert stream["num_replicas"] == min(3, size)
        assert stream["max_age"] == 3600 * S
        work = await api.consumer_info(prefix, "work")
        assert work is not None and work["ack_policy"] == "explicit"
        assert await api.consumer_info(prefix, "feed") is None  # fanout: the instances' own

        again = await plan(conn, manifest, "core")
        assert [s for s in again.steps if s.stream in ours(prefix)] == []
        assert {f"stream {prefix}", f"consumer {prefix}/work"} <= set(again.unchanged)
        noop = await apply(conn, only_ours(again, prefix))
        assert noop.mutations == 0
        assert noop.calls == {}

    run(server, body)


def test_buckets_made_by_the_reconciler_work_with_nats_py(
    nats_single: LocalNats, prefix: str
) -> None:
    manifest, _ = manifest_for(prefix)

    async def body(conn: Client) -> None:
        await apply(conn, only_ours(await plan(conn, manifest, "core"), prefix))
        js = conn.jetstream()
        kv = await js.key_value(f"{prefix.lower()}_kv")
        await kv.put("k", b"v1")
        await kv.put("k", b"v2")
        assert (await kv.get("k")).value == b"v2"
        assert [e.value for e in await kv.history("k")] == [b"v1", b"v2"]
        store = await js.object_store(f"{prefix.lower()}_obj")
        await store.put("file", b"x" * 300_000)
        assert (await store.get("file")).data == b"x" * 300_000

    run(nats_single, body)


def test_buckets_made_by_nats_py_are_not_drift(nats_single: LocalNats) -> None:
    """nats-py and deploykit agree on the settings of a KV bucket and an object store."""
    prefix = f"T{next(_ids)}"
    manifest, _ = manifest_for(prefix)
    low = prefix.lower()

    async def body(conn: Client) -> None:
        js = conn.jetstream()
        await js.create_key_value(KeyValueConfig(bucket=f"{low}_kv", history=2, direct=True))
        await js.create_object_store(f"{low}_obj", ObjectStoreConfig(ttl=86400))
        p = await plan(conn, manifest, "core")
        buckets = [s for s in p.steps if s.stream in {f"KV_{low}_kv", f"OBJ_{low}_obj"}]
        assert buckets == []
        api = JetStreamApi(conn)
        for stream in (f"KV_{low}_kv", f"OBJ_{low}_obj"):
            await api.delete_stream(stream)

    run(nats_single, body)


def test_a_mutable_change_updates_in_place_and_keeps_every_message(
    server: LocalNats, prefix: str
) -> None:
    before, subject = manifest_for(prefix)
    after, _ = manifest_for(prefix, max_age="2h", description="renamed", ack_wait="45s")

    async def body(conn: Client) -> None:
        await apply(conn, only_ours(await plan(conn, before, "core"), prefix))
        js = conn.jetstream()
        for i in range(25):
            await js.publish(subject, str(i).encode())
        sub = await js.pull_subscribe(subject, durable="work", stream=prefix)
        (msg,) = await sub.fetch(1)
        await msg.ack()

        p = only_ours(await plan(conn, after, "core"), prefix)
        assert [(s.action, s.label, [c.render() for c in s.changes]) for s in p.steps] == [
            (
                "update",
                f"stream {prefix}",
                ["description: 'events' → 'renamed'", "max_age: 1h → 2h"],
            ),
            ("update", f"consumer {prefix}/work", ["ack_wait: 30s → 45s"]),
        ]
        result = await apply(conn, p)
        assert result.calls == {"STREAM.UPDATE": 1, "CONSUMER.CREATE": 1}

        api = JetStreamApi(conn)
        assert await messages(api, prefix) == 25
        info = await api.request(f"CONSUMER.INFO.{prefix}.work")
        assert info["config"]["ack_wait"] == 45 * S
        assert info["ack_floor"]["stream_seq"] == 1  # the consumer kept its delivery state
        assert (await api.stream_info(prefix))["max_age"] == 7200 * S

    run(server, body)


def test_an_immutable_change_is_refused_then_replaces_with_allow_destroy(
    nats_single: LocalNats, prefix: str
) -> None:
    before, subject = manifest_for(prefix)
    after, _ = manifest_for(prefix, storage="memory")

    async def body(conn: Client) -> None:
        await apply(conn, only_ours(await plan(conn, before, "core"), prefix))
        js = conn.jetstream()
        for i in range(5):
            await js.publish(subject, str(i).encode())

        p = only_ours(await plan(conn, after, "core"), prefix)
        assert [(s.action, s.label) for s in p.steps] == [
            ("replace", f"stream {prefix}"),
            ("create", f"consumer {prefix}/work"),
        ]
        api = JetStreamApi(conn)
        with pytest.raises(PlanRefused, match="the storage type cannot change"):
            await apply(conn, p)
        assert await messages(api, prefix) == 5  # refused: nothing at all changed
        assert (await api.stream_info(prefix))["storage"] == "file"
        assert await api.consumer_info(prefix, "work") is not None

        result = await apply(conn, p, allow_destroy=True)
        assert result.calls == {"STREAM.DELETE": 1, "STREAM.CREATE": 1, "CONSUMER.CREATE": 1}
        assert (await api.stream_info(prefix))["storage"] == "memory"
        assert await messages(api, prefix) == 0
        assert await api.consumer_info(prefix, "work") is not None
        assert only_ours(await plan(conn, after, "core"), prefix).steps == ()

    run(nats_single, body)


def test_an_out_of_band_change_shows_up_as_drift(nats_single: LocalNats, prefix: str) -> None:
    manifest, _ = manifest_for(prefix)

    async def body(conn: Client) -> None:
        await apply(conn, only_ours(await plan(conn, manifest, "core"), prefix))
        api = JetStreamApi(conn)
        stream = await api.stream_info(prefix)
        await api.update_stream({**stream, "max_age": 600 * S, "max_msgs": 10})
        await api.delete_consumer(prefix, "work")

        drift = [d for d in (await plan(conn, manifest, "core")).drift() if prefix in d.object]
        assert [(d.object, d.field, d.declared, d.actual) for d in drift] == [
            (f"stream {prefix}", "max_age", 3600 * S, 600 * S),
            (f"stream {prefix}", "max_msgs", -1, 10),
            (f"consumer {prefix}/work", "exists", True, False),
        ]

    run(nats_single, body)


def test_an_undeclared_stream_is_kept_without_prune_and_deleted_with_it(
    nats_single: LocalNats, prefix: str
) -> None:
    manifest, _ = manifest_for(prefix)
    old = f"{prefix}_OLD"

    async def body(conn: Client) -> None:
        api = JetStreamApi(conn)
        await api.create_stream({"name": old, "subjects": [f"{old.lower()}.>"]})
        await apply(conn, only_ours(await plan(conn, manifest, "core"), prefix))

        kept = only_ours(await plan(conn, manifest, "core"), prefix)
        assert [u.label for u in kept.undeclared] == [f"stream {old}"]
        assert kept.steps == ()
        await apply(conn, kept)
        assert await api.stream_info(old) is not None

        pruning = only_ours(await plan(conn, manifest, "core", prune=True), prefix)
        assert [(s.action, s.label) for s in pruning.steps] == [("delete", f"stream {old}")]
        with pytest.raises(PlanRefused):
            await apply(conn, pruning, prune=True)
        assert await api.stream_info(old) is not None
        await apply(conn, pruning, prune=True, allow_destroy=True)
        assert await api.stream_info(old) is None

    run(nats_single, body)


def test_a_step_the_server_rejects_is_reported_with_what_was_done(
    nats_single: LocalNats, prefix: str
) -> None:
    manifest, subject = manifest_for(prefix)

    async def body(conn: Client) -> None:
        api = JetStreamApi(conn)
        await api.create_stream({"name": f"{prefix}_OLD", "subjects": [subject]})
        p = only_ours(await plan(conn, manifest, "core"), prefix)
        with pytest.raises(ApplyError) as failed:
            await apply(conn, p)
        lines = str(failed.value).splitlines()
        assert lines[0] == f"bus core: 1 step(s) failed, {len(p.steps) - 2} applied"
        assert lines[1].startswith(f"  create stream {prefix}: failed: STREAM.CREATE.{prefix}: ")
        assert "subjects overlap with an existing stream (error 10065)" in lines[1]
        done = {s.label for s in failed.value.result.done}
        assert f"stream {prefix}_LOG" in done
        assert f"consumer {prefix}/work" not in done  # its stream failed: never attempted
        assert await api.stream_info(f"{prefix}_LOG") is not None

    run(nats_single, body)


def test_consumer_actions_never_replace_or_create_by_mistake(
    nats_single: LocalNats, prefix: str
) -> None:
    """Verified facts: action "create" refuses an existing consumer with another config
    (10148); action "update" refuses a missing one (10149)."""

    async def body(conn: Client) -> None:
        api = JetStreamApi(conn)
        await api.create_stream({"name": prefix, "subjects": [f"{prefix.lower()}.>"]})
        config = {"name": "c", "durable_name": "c", "ack_policy": "explicit", "ack_wait": S}
        await api.create_consumer(prefix, config, "create")
        await api.create_consumer(prefix, config, "create")  # the same config: idempotent
        with pytest.raises(ApiError) as exists:
            await api.create_consumer(prefix, {**config, "ack_wait": 2 * S}, "create")
        assert exists.value.err_code == 10148
        with pytest.raises(ApiError) as missing:
            await api.create_consumer(
                prefix, {**config, "name": "d", "durable_name": "d"}, "update"
            )
        assert missing.value.err_code == 10149
        assert (await api.consumer_info(prefix, "c"))["ack_wait"] == S

    run(nats_single, body)


# Each case: a starting config, one field's new value. The test asks the real server to make
# the change in place and asserts that the table in immutable.py predicts its answer.
STREAM_CASES = [
    ({}, "storage", "memory"),
    ({}, "retention", "workqueue"),
    ({"retention": "workqueue"}, "retention", "limits"),
    ({}, "retention", "interest"),
    ({"retention": "interest"}, "retention", "limits"),
    ({"sealed": False}, "sealed", True),
    ({"deny_delete": True}, "deny_delete", False),
    ({}, "deny_delete", True),
    ({"deny_purge": True}, "deny_purge", False),
    ({}, "deny_purge", True),
    ({"allow_msg_ttl": True}, "allow_msg_ttl", False),
    ({}, "allow_msg_ttl", True),
    ({"allow_msg_schedules": True}, "allow_msg_schedules", False),
    ({}, "allow_msg_counter", True),
    ({}, "persist_mode", "async"),
    ({}, "max_age", 3600 * S),
    ({}, "max_bytes", 1024**2),
    ({}, "max_msgs", 10),
    ({}, "max_msg_size", 1024),
    ({}, "max_msgs_per_subject", 3),
    ({}, "discard", "new"),
    ({}, "duplicate_window", 10 * S),
    ({}, "description", "x"),
    ({}, "allow_rollup_hdrs", True),
    ({}, "allow_direct", True),
    ({}, "compression", "s2"),
    ({}, "max_consumers", 5),
    ({}, "first_seq", 10),
]
CONSUMER_CASES = [
    ({}, "deliver_policy", "new"),
    ({}, "ack_policy", "none"),
    ({}, "replay_policy", "original"),
    ({}, "max_waiting", 10),
    ({}, "mem_storage", True),
    ({"deliver_subject": "push.a", "max_waiting": 0}, "deliver_subject", ""),
    ({}, "ack_wait", 5 * S),
    ({}, "max_deliver", 3),
    ({}, "max_ack_pending", 10),
    ({}, "filter_subject", "SUBJECT"),
    ({}, "description", "x"),
    ({}, "inactive_threshold", 10 * S),
    ({}, "headers_only", True),
    ({}, "max_batch", 10),
    ({}, "backoff", [S]),
]


def _server_refuses(cluster: LocalNats, create: Any, update: Any) -> bool:
    """Whether the server refuses the update as an invalid in-place change of its config."""

    async def body(conn: Client) -> bool:
        api = JetStreamApi(conn)
        name = f"T{next(_ids)}"
        try:
            await create(api, name)
            try:
                await update(api, name)
            except ApiError as exc:
                assert exc.err_code in _INVALID_UPDATE, exc  # not refused for another reason
                return True
            return False
        finally:
            await api.delete_stream(name)

    return run(cluster, body)


# invalid stream config (10052); consumer config update refused (10012)
_INVALID_UPDATE = {10052, 10012}


@pytest.mark.parametrize(("base", "field", "new"), STREAM_CASES)
def test_server_agrees_with_the_stream_table(
    nats_single: LocalNats, base: dict, field: str, new: Any
) -> None:
    async def create(api: JetStreamApi, name: str) -> None:
        await api.create_stream({"name": name, "subjects": [f"{name.lower()}.>"], **base})

    async def update(api: JetStreamApi, name: str) -> None:
        actual = await api.stream_info(name)
        await api.update_stream({**actual, field: new})

    old = base.get(field)
    refused = _server_refuses(nats_single, create, update)
    assert refused is (stream_refusal(field, old, new) is not None)


@pytest.mark.parametrize(("base", "field", "new"), CONSUMER_CASES)
def test_server_agrees_with_the_consumer_table(
    nats_single: LocalNats, base: dict, field: str, new: Any
) -> None:
    async def create(api: JetStreamApi, name: str) -> None:
        await api.create_stream({"name": name, "subjects": [f"{name.lower()}.>"]})
        config = {"name": "c", "durable_name": "c", "ack_policy": "explicit", **base}
        await api.create_consumer(name, config, "create")

    async def update(api: JetStreamApi, name: str) -> None:
        actual = await api.consumer_info(name, "c")
        value = f"{name.lower()}.x" if new == "SUBJECT" else new
        await api.create_consumer(name, {**actual, field: value}, "update")

    old = base.get(field)
    refused = _server_refuses(nats_single, create, update)
    assert refused is (consumer_refusal(field, old, new) is not None)


def test_replicas_change_in_place_on_a_cluster(nats_cluster: LocalNats) -> None:
    async def create(api: JetStreamApi, name: str) -> None:
        await api.create_stream({"name": name, "subjects": [f"{name.lower()}.>"]})

    async def update(api: JetStreamApi, name: str) -> None:
        actual = await api.stream_info(name)
        await api.update_stream({**actual, "num_replicas": 3})

    assert not _server_refuses(nats_cluster, create, update)
    assert stream_refusal("num_replicas", 1, 3) is None


def test_reconcile_plans_every_bus_before_applying_any(nats_single: LocalNats) -> None:
    """A refused plan on one bus leaves the other bus untouched too."""
    prefix = f"T{next(_ids)}"
    text = f"""
version: 1
system: test
buses: {{core: {{core: true}}, side: {{}}}}
streams:
  {prefix}_A: {{subjects: ["{prefix.lower()}a.>"], replicas: 1}}
  {prefix}_B: {{bus: side, subjects: ["{prefix.lower()}b.>"], replicas: 1, storage: memory}}
"""
    manifest = parse_manifest(text)

    async def make_b_file(conn: Client) -> None:
        await JetStreamApi(conn).create_stream(
            {"name": f"{prefix}_B", "subjects": [f"{prefix.lower()}b.>"], "storage": "file"}
        )

    run(nats_single, make_b_file)
    with pytest.raises(PlanRefused, match=f"replace stream {prefix}_B"):
        reconcile(nats_single.url, {"core": None, "side": None}, manifest)

    async def check(conn: Client) -> None:
        api = JetStreamApi(conn)
        assert await api.stream_info(f"{prefix}_A") is None
        await api.delete_stream(f"{prefix}_B")

    run(nats_single, check)


def test_plan_counts_only_reads(nats_single: LocalNats) -> None:
    manifest, _ = manifest_for(f"T{next(_ids)}")

    async def body(conn: Client) -> None:
        api = JetStreamApi(conn)
        await plan_with(api, manifest, "core", cluster_size=1)
        assert api.mutations == 0
        assert set(api.calls) <= {"STREAM.NAMES", "STREAM.INFO", "CONSUMER.NAMES", "CONSUMER.INFO"}

    run(nats_single, body)


def one_stream_manifest(folder: Path, options: str) -> tuple[str, Path]:
    """A manifest file in `folder` with one stream of a fresh name and these YAML `options`."""
    prefix = f"T{next(_ids)}"
    file = folder / "deploykit.yaml"
    file.write_text(
        "version: 1\nsystem: test\nbuses: {core: {}}\nstreams:\n"
        f'  {prefix}: {{subjects: ["{prefix.lower()}.>"], {options}}}\n'
    )
    return prefix, file


def test_cli_plan_exit_codes_and_apply(nats_single: LocalNats, tmp_path: Path) -> None:
    prefix, file = one_stream_manifest(tmp_path, "replicas: 3, max_age: 1h")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "target": "local",
                "system": "test",
                "nats": {
                    "urls": nats_single.urls,
                    "credentials": {
                        "provisioning-core": {"account": "core", "role": "provisioning"}
                    },
                },
            }
        )
    )
    target = ["--file", str(file), "--url", nats_single.url, "--user", "u", "--password", "hunter2"]

    planned = run_cli("nats", "plan", *target, "--json")
    assert planned.returncode == 2, planned.stderr
    data = json.loads(planned.stdout)
    (bus,) = data["buses"]
    assert {"action": "create", "name": prefix} in [
        {"action": s["action"], "name": s["name"]} for s in bus["steps"]
    ]
    assert "replicas 3 capped at the cluster size 1" in bus["warnings"][0]

    applied = run_cli("nats", "apply", "--file", str(file), "--outputs", str(outputs))
    assert applied.returncode == 0, applied.stderr
    assert f"stream {prefix}" in applied.stdout
    assert "hunter2" not in planned.stdout + planned.stderr + applied.stdout + applied.stderr

    table = run_cli("nats", "plan", *target)
    assert table.returncode == 0, table.stdout + table.stderr
    assert "no changes" in table.stdout or "0 to change" in table.stdout

    assert (
        run_cli("nats", "plan", "--file", str(file), "--url", "nats://127.0.0.1:1").returncode == 1
    )
    assert run_cli("nats", "plan", "--no-such-option").returncode == 1
    bad = run_cli(
        "nats", "plan", "--file", str(tmp_path / "missing.yaml"), "--url", nats_single.url
    )
    assert (bad.returncode, "file not found" in bad.stderr) == (1, True)
    assert "Traceback" not in bad.stderr

    async def clean(conn: Client) -> None:
        await JetStreamApi(conn).delete_stream(prefix)

    run(nats_single, clean)


def test_cli_apply_refuses_a_destructive_plan(nats_single: LocalNats, tmp_path: Path) -> None:
    prefix, file = one_stream_manifest(tmp_path, "replicas: 1, storage: memory")

    async def make(conn: Client) -> None:
        await JetStreamApi(conn).create_stream(
            {"name": prefix, "subjects": [f"{prefix.lower()}.>"]}
        )

    run(nats_single, make)
    refused = run_cli("nats", "apply", "--file", str(file), "--url", nats_single.url)
    assert refused.returncode == 2
    assert f"replace stream {prefix}" in refused.stderr
    assert "--allow-destroy" in refused.stderr
    allowed = run_cli(
        "nats", "apply", "--file", str(file), "--url", nats_single.url, "--allow-destroy"
    )
    assert allowed.returncode == 0, allowed.stderr

    async def check(conn: Client) -> None:
        api = JetStreamApi(conn)
        assert (await api.stream_info(prefix))["storage"] == "memory"
        await api.delete_stream(prefix)

    run(nats_single, check)


def test_a_restarted_cluster_is_read_whole_as_soon_as_its_streams_have_leaders(
    tmp_path: Path,
) -> None:
    """A restarted cluster elects each stream's leader after its meta leader. STREAM.LIST, asked
    in between, waited 4 s and left out the streams with no leader yet, so a plan then wanted to
    create streams that exist; names and each stream's INFO see all of them."""
    from deploykit.local.nats import plan_local_cluster

    manifest, _ = manifest_for("RESTART")
    cluster = plan_local_cluster(tmp_path / "nats", 3)
    try:
        cluster.start()
        reconcile(cluster.url, {"core": None}, manifest)
        cluster.stop()
        cluster.start()  # healthy, meta leader elected: what `deploykit dev up` waits for

        async def body(conn: Client) -> Plan:
            return await plan_with(JetStreamApi(conn), manifest, "core", cluster_size=3)

        again = run(cluster, body)
        assert [f"{s.action} {s.label}" for s in again.steps] == []
    finally:
        cluster.stop()


def test_a_read_nobody_answers_yet_is_asked_again_within_a_fraction_of_a_second(
    nats_single: LocalNats,
) -> None:
    """A stream without a leader (a restarted cluster) never answers its INFO: the read is
    asked again every 0.2 s or so, so it ends soon after the leader is there. The answering
    side here is a plain subscriber on a prefix of its own that keeps silent for a second,
    as a stream electing its leader does."""

    async def scenario() -> int:
        async with await nats.connect(nats_single.url) as conn:
            first: list[float] = []
            loop = asyncio.get_running_loop()

            async def leaderless_for_a_second(msg: Any) -> None:
                first.append(first[0] if first else loop.time())
                if loop.time() - first[0] >= 1.0:
                    await msg.respond(json.dumps({"config": {"name": "S"}}).encode())

            await conn.subscribe("$SETTLING.API.STREAM.INFO.S", cb=leaderless_for_a_second)
            api = JetStreamApi(conn, prefix="$SETTLING.API")
            assert await api.stream_info("S") == {"name": "S"}
            return api.calls["STREAM.INFO"]

    # asked at 0, 0.2, 0.45, 0.76 and answered at about 1.15 s; the former doubling waits
    # (0.5, then 1 s after a pause) asked three times and ended at about 1.85 s
    assert asyncio.run(scenario()) >= 4
