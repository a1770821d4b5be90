"""The service runtime's promises, on real servers: services run as real processes
(`tests/integration/runtime/service.py`) against a real nats-server and a real PostgreSQL, and
are killed -9 or stopped with SIGTERM like an orchestrator does.

- warm-up: a new fanout instance handles all of history before any live event, and is not in
  discovery before it has;
- redelivery and idempotency: a failed delivery is redelivered, the last failed one goes to the
  dead-letter subject, and kill -9 mid-way loses and doubles nothing (database rows and emitted
  events, whose ids the runtime derives);
- emits are retried across a killed stream leader: 0 lost, 0 duplicated;
- SIGTERM drains: the message in hand is finished and acked, the rest go back at once;
- metrics are served as Prometheus text with the catalogue's names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, StreamConfig
from prometheus_client.parser import text_string_to_metric_families

from deploykit.local.nats import LocalNats, local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.manifest.kinds import ConsumeMode
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.wiring import ConsumerWiring, Wiring, wiring_for
from deploykit.runtime import connection, metricnames
from deploykit.runtime.consumers import FanoutConsumer
from deploykit.runtime.emit import HANDLER_EMIT_BOUND, publish
from deploykit.runtime.metrics import Metrics
from deploykit.runtime.payloads import JsonCodec
from deploykit.runtime.settings import Exporter, Settings
from deploykit.testing.faults import signal_and_wait, stored_ids
from deploykit.testing.polling import wait_until_async

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = parse_manifest(
    """
version: 1
system: rt
buses: {core: {}}
databases: {rtwork: {}}
streams:
  RT: {subjects: ["rt.>"], replicas: 1, max_age: 1d, backup: true, duplicate_window: 2m}
services:
  rtwork:
    role: worker
    consumes:
      - {stream: RT, consumer: work, mode: queue, filter: rt.in, max_deliver: 3, dead_letter: rt.dead}
    emits: [rt.out]
    database: rtwork
  rtrpc:
    role: rpc
    endpoints: {slow: {subject: rtrpc.slow}}
  rtview:
    role: worker
    consumes: [{stream: RT, consumer: view, mode: fanout, warmup: true, filter: rt.in}]
    read_model: true
contracts:
  rt.in:
    schema:
      type: object
      required: [n]
      properties: {n: {type: integer}, fail_first: {type: boolean}, always_fail: {type: boolean}}
  rt.out:
    schema: {type: object, required: [n], properties: {n: {type: integer}}}
"""
)


class Proc:
    """One service process, its record file and its log."""

    def __init__(self, name: str, env: dict[str, str], tmp: Path) -> None:
        self.record = tmp / f"{name}-{uuid.uuid4().hex[:6]}.record"
        self.record.touch()
        self.log = self.record.with_suffix(".log")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.runtime.service"],
                cwd=ROOT,
                env={**env, "RT_RECORD": str(self.record), "PATH": os.environ["PATH"]},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[str]:
        return self.record.read_text().splitlines()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"did not stop on SIGTERM:\n{self.output()}") from None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Harness:
    def __init__(self, tmp: Path, nats_url: str, database_url: str) -> None:
        self.tmp = tmp
        self.nats_url = nats_url
        self.database_url = database_url
        self.procs: list[Proc] = []

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {
            "DEPLOYKIT_SERVICE": name,
            "NATS_URL": self.nats_url,
            "NATS_INBOX_PREFIX": f"_INBOX_{name}",
            "DEPLOYKIT_WIRING": wiring_for(MANIFEST, name).model_dump_json(),
            "DEPLOYKIT_METRICS_ADDR": f"127.0.0.1:{free_ports(1)[0]}",
            "PYTHONFAULTHANDLER": "1",
            **extra,
        }
        if name == "rtwork":
            env["DATABASE_URL"] = self.database_url
        return env

    def start(self, name: str, **extra: str) -> Proc:
        self.procs.append(Proc(name, self.env(name, **extra), self.tmp))
        return self.procs[-1]


@pytest.fixture
def database_url(postgres: LocalPostgres) -> str:
    name = f"rt_{uuid.uuid4().hex[:8]}"
    return postgres.ensure_database(name, name, "rt-secret")


@pytest.fixture
def harness(tmp_path: Path, nats_single: LocalNats, database_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, nats_single.url, database_url)
    asyncio.run(_fresh_stream(nats_single.url))
    try:
        yield harness
    finally:
        for proc in harness.procs:
            if proc.proc.poll() is None:
                proc.kill()


async def _fresh_stream(url: str, ack_wait: float = 30) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream("RT")
    await js.add_stream(StreamConfig(name="RT", subjects=["rt.>"], duplicate_window=120))
    await js.add_consumer(
        "RT",
        ConsumerConfig(
            durable_name="work", filter_subject="rt.in", ack_wait=ack_wait, max_deliver=3
        ),
    )
    await nc.close()


async def until(check: Any, what: str, timeout: float = 15, poll: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def discovered(nc: Client, service: str) -> bool:
    try:
        await nc.request(f"$SRV.PING.{service}", b"", timeout=0.2)
    except nats.errors.Error:
        return False
    return True


async def publish_inputs(nc: Client, payloads: list[dict[str, Any]]) -> None:
    js = nc.jetstream()
    for payload in payloads:
        await js.publish_async("rt.in", json.dumps(payload).encode())
    await js.publish_async_completed()


async def drained(nc: Client) -> bool:
    info = await nc.jetstream().consumer_info("RT", "work")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def stored(nc: Client, subject: str) -> int:
    info = await nc.jetstream().stream_info("RT", subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


def rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM handled").fetchone()
        return int(row[0]) if row else 0


def test_a_new_fanout_instance_replays_history_before_live_events_and_discovery(
    harness: Harness,
) -> None:
    history = 3000

    async def scenario() -> None:
        nc = await nats.connect(harness.nats_url)
        try:
            await publish_inputs(nc, [{"n": i} for i in range(history)])
            view = harness.start("rtview", RT_DELAY="0.0005")
            live = 0
            # Live events keep coming while it replays; ask discovery all the while.
            while not await discovered(nc, "rtview"):
                assert view.proc.poll() is None, view.output()
                await nc.jetstream().publish("rt.in", json.dumps({"n": -1}).encode())
                live += 1
            seen = [int(line.split()[1]) for line in view.lines()]
            # History is what the stream held when the instance made its consumer: the 3000,
            # and the live events published while the process started.
            replayed = int(view.output().split("warm-up done, ", 1)[1].split()[0])
            assert history <= replayed < history + live
            assert live > 10, "the test published no live event during the warm-up"
            assert len(seen) >= replayed, "in discovery before it replayed history"
            assert seen[:replayed] == list(range(1, replayed + 1)), "history first, in order"
            assert view.stop() == 0
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_redelivery_dead_letter_and_kill_9_lose_and_double_nothing(harness: Harness) -> None:
    total = 300

    async def scenario() -> None:
        nc = await nats.connect(harness.nats_url)
        try:
            await _fresh_stream(harness.nats_url, ack_wait=2)
            payloads: list[dict[str, Any]] = [{"n": 0, "fail_first": True}]
            payloads += [{"n": n} for n in range(1, total)]
            payloads.append({"n": 9999, "always_fail": True})
            worker = harness.start("rtwork", RT_DELAY="0.002")
            await until(lambda: discovered(nc, "rtwork"), "rtwork in discovery")
            await publish_inputs(nc, payloads)

            async def mid_way() -> bool:
                return len([x for x in worker.lines() if x.startswith("done")]) > 20

            await until(mid_way, "the worker to be mid-way")
            worker.kill()
            assert rows(harness.database_url) < total, "killed after the end, not mid-way"
            again = harness.start("rtwork", RT_DELAY="0.002")
            await until(lambda: drained(nc), "the restarted worker to drain", timeout=30)

            assert rows(harness.database_url) == total
            assert await stored(nc, "rt.out") == total, "an emit lost or doubled"
            ids = await stored_ids(nc.jetstream(), "RT")
            outs = {i: n for i, n in ids.items() if i.startswith("work:RT:")}
            assert len(outs) == total and set(outs.values()) == {1}
            starts = [x.split() for x in worker.lines() + again.lines() if x.startswith("start")]
            assert ["start", "0", "2"] in starts, "the failed delivery was redelivered"
            assert [x[2] for x in starts if x[1] == "9999"] == ["1", "2", "3"]
            dead = await nc.jetstream().get_last_msg("RT", "rt.dead")
            assert json.loads(dead.data) == {"n": 9999, "always_fail": True}
            assert dead.headers and dead.headers["Deploykit-Consumer"] == "work"
            assert "RuntimeError: failing 9999 on delivery 3" in dead.headers["Deploykit-Error"]
            assert await stored(nc, "rt.dead") == 1
            scrape_and_check(again)
            assert again.stop() == 0
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_contracts_refuse_a_bad_emit_and_dead_letter_a_bad_event(harness: Harness) -> None:
    """A payload that breaks its subject's contract: the producer's emit is refused (nothing is
    published) and the consumer's event goes to the dead-letter subject with the reason, on
    its first delivery, never acked as handled."""

    async def scenario() -> None:
        nc = await nats.connect(harness.nats_url)
        try:
            worker = harness.start("rtwork")
            await until(lambda: discovered(nc, "rtwork"), "rtwork in discovery")
            await publish_inputs(nc, [{"n": "seven"}, {"n": 8, "emit_bad": True}, {"n": 9}])
            await until(lambda: drained(nc), "the worker to drain")
            js = nc.jetstream()
            dead = [await js.get_msg("RT", seq) for seq in await dead_letters(nc)]
            reasons = {json.loads(m.data)["n"]: (m.headers or {})["Deploykit-Error"] for m in dead}
            assert set(reasons) == {"seven", 8}
            assert reasons["seven"].startswith("payload: rt.in breaks its event contract v1: ")
            assert "$.n: 'seven' is not of type 'integer'" in reasons["seven"]
            assert (
                "rt.out breaks its event contract v1: $.n: '8' is not of type 'integer'"
                in (reasons[8])
            )
            assert await stored(nc, "rt.out") == 1, "only n=9's emit is published"
            starts = [x for x in worker.lines() if x.startswith("start")]
            assert starts == ["start 8 1", "start 9 1"], "the bad event never reached the handler"
            assert worker.stop() == 0
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


async def dead_letters(nc: Client) -> list[int]:
    """The sequences of the messages on rt.dead, from the stream's own index."""
    js = nc.jetstream()
    info = await js.stream_info("RT")
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            if (await js.get_msg("RT", seq)).subject == "rt.dead":
                found.append(seq)
    return found


def scrape_and_check(proc: Proc) -> None:
    """The worker's metrics endpoint serves every name of the catalogue but the HTTP one."""
    with urllib.request.urlopen(f"http://{_metrics_addr(proc)}/metrics", timeout=2) as response:
        text = response.read().decode()
    samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    for metric in metricnames.METRICS:
        if metric is metricnames.HTTP_DURATION:
            continue  # a frontend's (test_new_service)
        wanted = metric.prometheus
        if metric.kind == "histogram":
            wanted += "_count"
        assert wanted in samples, f"{wanted} not served; got {sorted(samples)}"
    assert 'messaging_consumer_group_name="work"' in text
    assert 'messaging_destination_name="rt.out"' in text


def _metrics_addr(proc: Proc) -> str:
    for line in proc.output().splitlines():
        if "metrics on http://" in line:
            return line.split("http://", 1)[1].split("/", 1)[0]
    raise AssertionError(f"no metrics endpoint logged:\n{proc.output()}")


def test_sigterm_finishes_the_message_in_hand_and_gives_the_rest_back(harness: Harness) -> None:
    total = 30

    async def scenario() -> None:
        nc = await nats.connect(harness.nats_url)
        try:
            worker = harness.start("rtwork", RT_DELAY="0.3")
            await until(lambda: discovered(nc, "rtwork"), "rtwork in discovery")
            await publish_inputs(nc, [{"n": n} for n in range(total)])

            async def in_hand() -> bool:
                return any(x.startswith("start") for x in worker.lines())

            await until(in_hand, "the first message in hand")
            assert worker.stop() == 0, worker.output()
            first = worker.lines()
            begun = {x.split()[1] for x in first if x.startswith("start")}
            finished = {x.split()[1] for x in first if x.startswith("done")}
            assert begun and begun == finished, "a message in hand was not finished"
            # The fetched rest went back at once: a second instance drains well within ack_wait.
            started = time.monotonic()
            second = harness.start("rtwork", RT_DELAY="0")
            await until(lambda: drained(nc), "the second instance to drain", timeout=20)
            assert time.monotonic() - started < 20
            handled = finished | {x.split()[1] for x in second.lines() if x.startswith("done")}
            assert handled == {str(n) for n in range(total)}
            assert rows(harness.database_url) == total
            assert await stored(nc, "rt.out") == total
            assert second.stop() == 0
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_sigterm_answers_the_requests_already_received(harness: Harness) -> None:
    async def scenario() -> None:
        nc = await nats.connect(harness.nats_url)
        try:
            rpc = harness.start("rtrpc", RT_DELAY="1")
            await until(lambda: discovered(nc, "rtrpc"), "rtrpc in discovery")
            asked = [
                asyncio.create_task(nc.request("rtrpc.slow", json.dumps({"n": n}).encode(), 10))
                for n in (1, 2)
            ]

            async def in_hand() -> bool:
                return "start 1" in rpc.lines() or "start 2" in rpc.lines()

            await until(in_hand, "a request in hand")
            rpc.proc.send_signal(signal.SIGTERM)
            replies = await asyncio.gather(*asked)
            assert sorted(json.loads(r.data)["n"] for r in replies) == [1, 2]
            assert await asyncio.to_thread(rpc.stop) == 0, rpc.output()
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_emit_is_retried_across_a_killed_stream_leader(tmp_path: Path) -> None:
    """Emits with ids in a loop while the R3 stream's leader is killed -9: every emit returns
    (none raises), and the stream holds each id exactly once."""
    total = 400

    async def scenario(cluster: LocalNats) -> dict[str, Any]:
        nc = await nats.connect(cluster.urls, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
        js = nc.jetstream()
        config = StreamConfig(
            name="LEAD", subjects=["lead.>"], num_replicas=3, duplicate_window=120
        )
        deadline = time.monotonic() + 30
        while True:  # the first R3 stream waits for the meta leader
            try:
                await js.add_stream(config)
                break
            except (nats.errors.Error, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        metrics = Metrics(_settings())
        emitted = 0
        killed_at = 0.0
        slowest = 0.0
        leader = ""
        for i in range(total):
            if i == total // 4:  # right after creation, too: the first emits met no leader yet
                info = await js.stream_info("LEAD")
                assert info.cluster and info.cluster.leader
                leader = info.cluster.leader
                node = next(n for n in cluster.nodes if n.name == leader)
                signal_and_wait(cluster.proc(node), signal.SIGKILL)
                killed_at = time.monotonic()
            started = time.monotonic()
            await publish(js, metrics, "lead.x", b"{}", f"lead-{i}", HANDLER_EMIT_BOUND)
            slowest = max(slowest, time.monotonic() - started)
            emitted += 1
        # Read from the two nodes left: a restarted node serves its own stale copy to an R1
        # reading consumer placed on it until it has caught up.
        ids = await stored_ids(js, "LEAD")
        await nc.close()
        metrics.shutdown()
        return {"ids": ids, "emitted": emitted, "slowest": slowest, "killed": killed_at > 0}

    with local_cluster(tmp_path / "nats", size=3) as cluster:
        result = asyncio.run(asyncio.wait_for(scenario(cluster), 90))
    ids: Counter[str] = result["ids"]
    assert result["emitted"] == total
    assert sorted(ids) == sorted(f"lead-{i}" for i in range(total)), "an emit was lost"
    assert all(n == 1 for n in ids.values()), "an emit was stored twice"
    assert result["slowest"] > 1, "the leader's death did not delay any emit: not tested"


def test_reconnects_with_a_growing_wait_that_starts_over_once_connected(tmp_path: Path) -> None:
    async def scenario(cluster: LocalNats) -> tuple[float, float]:
        nc = await connection.connect(_settings(cluster.url))
        (node,) = cluster.nodes
        signal_and_wait(cluster.proc(node), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while nc.options["reconnect_time_wait"] < 4 * connection.BACKOFF_FIRST:
            assert time.monotonic() < deadline, "the wait between attempts did not grow"
            await asyncio.sleep(0.05)
        grown = nc.options["reconnect_time_wait"]
        cluster.start_node(node)
        while not nc.is_connected:
            assert time.monotonic() < deadline + 20, "did not reconnect"
            await asyncio.sleep(0.05)
        reset = nc.options["reconnect_time_wait"]
        await nc.close()
        return grown, reset

    with local_cluster(tmp_path / "nats", size=1) as cluster:
        grown, reset = asyncio.run(asyncio.wait_for(scenario(cluster), 60))
    assert connection.BACKOFF_FIRST * 4 <= grown <= connection.BACKOFF_MAX * 1.2
    assert reset == connection.BACKOFF_FIRST


def _settings(url: str = "nats://127.0.0.1:4222") -> Settings:
    return Settings(
        service="rt-emit",
        nats_urls=[url],
        inbox_prefix="_INBOX",
        wiring=Wiring.model_validate({"role": "worker"}),
        exporter=Exporter.NONE,
    )


def test_a_fanout_consumer_is_created_once_its_stream_can_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked while the stream has no quorum (two of three nodes down), its creation goes
    unanswered; asked again, it succeeds once the nodes are back (it failed at the first
    unanswered request before)."""

    async def scenario(cluster: LocalNats) -> str:
        nc = await nats.connect(cluster.nodes[0].client_url)
        try:
            js = nc.jetstream(timeout=1)
            deadline = time.monotonic() + 30
            while True:  # the first R3 stream waits for the meta leader
                try:
                    await js.add_stream(
                        StreamConfig(name="FAN", subjects=["fan.>"], num_replicas=3)
                    )
                    break
                except (nats.errors.Error, TimeoutError):
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
            for node in cluster.nodes[1:]:
                signal_and_wait(cluster.proc(node), signal.SIGKILL)
            wiring = ConsumerWiring(stream="FAN", consumer="fan", mode=ConsumeMode.FANOUT)
            consumer = FanoutConsumer(
                wiring, _noop, js, Metrics(_settings()), JsonCodec(), lambda _: None
            )
            creating = asyncio.ensure_future(consumer.create())

            async def asked_again() -> bool:
                assert not creating.done(), "created (or failed) without a quorum"
                return "asking again" in caplog.text  # one request went unanswered

            await wait_until_async(asked_again, 15, "a second request for the consumer")
            for node in cluster.nodes[1:]:
                cluster.start_node(node)
            await asyncio.wait_for(creating, 30)
            info = await js.consumer_info("FAN", consumer.name)
            return info.name
        finally:
            await nc.close()

    with local_cluster(tmp_path / "nats", size=3) as cluster:
        assert asyncio.run(scenario(cluster)).startswith("fan")


async def _noop(event: Any) -> None:
    return None
