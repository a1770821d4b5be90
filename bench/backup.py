"""Back up and restore one stream, beside the server's own snapshot of it.

    .venv/bin/python bench/backup.py [--messages 1000000] [--size 128]

On one local nats-server (file storage) it fills a stream, then prints (never asserts):
- server snapshot: the JetStream snapshot API read with nats-py directly (chunks acked as they
  come), the server's own rate for the same data;
- deploykit backup: `deploykit backup`'s code (ordered consumer → snapshot folder), in a child
  process, with its peak memory; the same at a tenth of the messages, to show memory does not
  grow with the stream;
- deploykit backup → S3: the same streamed into a bucket (multipart upload) on an S3 server on
  loopback (moto's, from the test extras), big and small, with peak memory;
- deploykit restore: into a new stream, verification included;
- the SQL copy (`backup.sql`): the archiver (`python -m deploykit.backup.archiver`, a child
  process, on a local PostgreSQL) copying the whole stream, with its peak memory; then
  `restore --from-sql` of that copy, verification included;
- ratios against the server snapshot (msgs/s), and that nothing was lost on the way;
- the publish rate of the restore's pipeline beside nats-py's `publish_async`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import psycopg
from nats.aio.client import Client

from deploykit.backup.fromsql import sql_source
from deploykit.backup.pipeline import Pipeline
from deploykit.backup.restore import restore, restore_snapshot
from deploykit.backup.sqlcopy import TABLE
from deploykit.jetstream.api import JetStreamApi
from deploykit.jetstream.desired import archive_consumer_config
from deploykit.local.nats import local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.manifest.load import parse_manifest
from deploykit.manifest.model import ConsumeMode, Role
from deploykit.manifest.naming import ARCHIVE_CONSUMER
from deploykit.manifest.wiring import ConsumerWiring, Wiring
from deploykit.testing.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
BENCH_MANIFEST = parse_manifest(
    "version: 1\nsystem: bench\nbuses: {core: {}}\nbackup: {sql: true}\n"
    "streams: {BIG: {subjects: [big.>], replicas: 1, backup: true}}\n"
)


async def fill(nc: Client, stream: str, subject: str, messages: int, size: int) -> None:
    js = nc.jetstream(timeout=30, publish_async_max_pending=4096)
    await js.add_stream(name=stream, subjects=[f"{subject}.>"], max_bytes=-1)
    payload = bytes(size)
    for start in range(0, messages, 4096):
        acks = [
            await js.publish_async(f"{subject}.{i % 16}", payload)
            for i in range(start, min(start + 4096, messages))
        ]
        await asyncio.gather(*acks)


async def server_snapshot(nc: Client, stream: str) -> tuple[float, int]:
    """Seconds and bytes of the server's own snapshot (`$JS.API.STREAM.SNAPSHOT`)."""
    inbox = nc.new_inbox()
    done = asyncio.Event()
    received = 0

    async def chunk(msg: nats.aio.msg.Msg) -> None:
        nonlocal received
        if not msg.data:
            done.set()
            return
        received += len(msg.data)
        if msg.reply:
            await nc.publish(msg.reply, b"")

    sub = await nc.subscribe(inbox, cb=chunk)
    start = time.perf_counter()
    reply = await nc.request(
        f"$JS.API.STREAM.SNAPSHOT.{stream}",
        json.dumps({"deliver_subject": inbox, "no_consumers": True}).encode(),
        timeout=10,
    )
    if json.loads(reply.data).get("error"):
        raise SystemExit(f"snapshot refused: {reply.data.decode()}")
    await asyncio.wait_for(done.wait(), 600)
    seconds = time.perf_counter() - start
    await sub.unsubscribe()
    return seconds, received


def child_backup(
    url: str, stream: str, to: Path | str, env: dict[str, str] | None = None
) -> tuple[float, int, dict[str, int]]:
    """`snapshot_into` in its own process, into a folder or s3://: seconds, peak RSS (KiB),
    the manifest's figures."""
    code = (
        "import asyncio, json, sys, time, nats\n"
        "from deploykit.backup.snapshot import snapshot_into\n"
        "from deploykit.backup.store import open_store\n"
        "async def main():\n"
        f"    nc = await nats.connect({url!r})\n"
        "    t = time.perf_counter()\n"
        f"    store = open_store({str(to)!r})\n"
        f"    folder, m = await snapshot_into(nc, 'bench', 'core', {stream!r}, store)\n"
        # VmHWM, not ru_maxrss: ru_maxrss starts at the parent's size at fork and survives exec,
        # and the parent holds the S3 server's data
        "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "    peak = int(status.split()[0])\n"
        "    print(json.dumps({'seconds': time.perf_counter() - t, 'folder': str(folder),"
        " 'messages': m.messages, 'bytes': m.bytes, 'peak_kib': peak}))\n"
        "    await nc.close()\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    result = json.loads(done.stdout)
    return result["seconds"], result["peak_kib"], result


def archived(url: str, stream: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE stream = %s", (stream,)).fetchone()
    return int(row[0]) if row else 0


async def archive(
    nc: Client, nats_url: str, archive_url: str, stream: str, messages: int
) -> tuple[float, int]:
    """The archiver as `deploykit dev` runs it, from its start until the copy holds the whole
    stream: seconds (process start included) and peak RSS (KiB)."""
    await JetStreamApi(nc).create_consumer(stream, archive_consumer_config(), "create")
    wiring = Wiring(
        role=Role.WORKER,
        consumes={
            stream: ConsumerWiring(stream=stream, consumer=ARCHIVE_CONSUMER, mode=ConsumeMode.QUEUE)
        },
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEPLOYKIT_SERVICE": "archiver-core",
        "NATS_URL": nats_url,
        "NATS_INBOX_PREFIX": "_INBOX_archiver-core",
        "DEPLOYKIT_WIRING": wiring.model_dump_json(),
        "DATABASE_URL": archive_url,
        "DEPLOYKIT_METRICS": "none",
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit.backup.archiver"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: archived(archive_url, stream) >= messages or proc.poll() is not None,
            3600,
            "the archiver to copy the stream",
            poll=0.25,
        )
        seconds = time.perf_counter() - start
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return seconds, peak


async def publish_rates(nc: Client, count: int, size: int) -> tuple[float, float]:
    """Seconds to publish `count` messages in order, 512 in flight, with nats-py's
    `publish_async` and with the restore's pipeline: why restore does not use the former."""
    js = nc.jetstream(timeout=30, publish_async_max_pending=1024)
    payload = bytes(size)
    for name in ("PUB_JS", "PUB_PIPE"):
        await js.add_stream(name=name, subjects=[f"{name.lower()}.>"], max_bytes=-1)
    start = time.perf_counter()
    pending: deque[asyncio.Future[Any]] = deque()
    for _ in range(count):
        pending.append(await js.publish_async("pub_js.x", payload))
        if len(pending) >= 512:
            await pending.popleft()
    await asyncio.gather(*pending)
    nats_py = time.perf_counter() - start
    start = time.perf_counter()
    async with Pipeline(nc, "PUB_PIPE", 1) as pipeline:
        for _ in range(count):
            await pipeline.send("pub_pipe.x", payload, None)
    return nats_py, time.perf_counter() - start


async def main(messages: int, size: int) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp,
        local_cluster(Path(tmp) / "nats", 1) as cluster,
    ):
        postgres = LocalPostgres(Path(tmp) / "postgres", free_ports(1)[0], "bench-superuser")
        url = cluster.urls[0]
        nc = await nats.connect(url)
        small = max(messages // 10, 1)
        print(f"filling SMALL ({small:,}) and BIG ({messages:,}) with {size} B messages ...")
        await fill(nc, "SMALL", "small", small, size)
        await fill(nc, "BIG", "big", messages, size)
        snap_seconds, snap_bytes = await server_snapshot(nc, "BIG")
        js_seconds, pipeline_seconds = await publish_rates(nc, small, size)
        small_seconds, small_peak, _ = child_backup(url, "SMALL", Path(tmp) / "b")
        big_seconds, big_peak, big = child_backup(url, "BIG", Path(tmp) / "b")
        with s3_server() as env:
            s3_small = child_backup(url, "SMALL", "s3://bench/b", env)
            s3_big = child_backup(url, "BIG", "s3://bench/b", env)
        start = time.perf_counter()
        report = await restore_snapshot(nc, nc, Path(big["folder"]), "BIG_RESTORED")
        restore_seconds = time.perf_counter() - start
        try:
            postgres.start()
            archive_url = postgres.ensure_archive("bench-archiver")
            archive_seconds, archive_peak = await archive(nc, url, archive_url, "BIG", messages)
            copied = archived(archive_url, "BIG")
            start = time.perf_counter()
            async with sql_source(archive_url, BENCH_MANIFEST, "BIG") as source:
                from_sql = await restore(nc, nc, source, "BIG_FROM_SQL")
            from_sql_seconds = time.perf_counter() - start
        finally:
            postgres.stop()
        await nc.close()
    mb = messages * size / 1e6
    rows = [
        ("server snapshot (nats-py, raw API)", snap_seconds, f"{snap_bytes / 1e6:,.1f} MB sent"),
        ("deploykit backup", big_seconds, f"peak RSS {big_peak / 1024:,.0f} MiB"),
        (
            f"deploykit backup, {small:,} msgs",
            small_seconds,
            f"peak RSS {small_peak / 1024:,.0f} MiB",
        ),
        ("deploykit backup → S3 (loopback)", s3_big[0], f"peak RSS {s3_big[1] / 1024:,.0f} MiB"),
        (
            f"deploykit backup → S3, {small:,} msgs",
            s3_small[0],
            f"peak RSS {s3_small[1] / 1024:,.0f} MiB",
        ),
        (
            "deploykit restore + verify",
            restore_seconds,
            "verified" if report.verified else "MISMATCH",
        ),
        (
            "archiver → PostgreSQL (SQL copy)",
            archive_seconds,
            f"peak RSS {archive_peak / 1024:,.0f} MiB",
        ),
        (
            "restore --from-sql + verify",
            from_sql_seconds,
            "verified" if from_sql.verified else "MISMATCH",
        ),
    ]
    print(
        f"\n{messages:,} messages of {size} B = {mb:,.1f} MB of payload, one node, file storage\n"
    )
    print(f"{'':38} {'seconds':>8} {'msgs/s':>10} {'MB/s':>7}  note")
    for name, seconds, note in rows:
        count = small if "," in name and "msgs" in name else messages
        print(
            f"{name:38} {seconds:8.2f} {count / seconds:10,.0f} "
            f"{count * size / 1e6 / seconds:7.1f}  {note}"
        )
    lost = {
        "backup": messages - big["messages"],
        "restore": messages - report.messages,
        "SQL copy": messages - copied,
        "restore --from-sql": messages - from_sql.messages,
    }
    print(f"\nlost: {', '.join(f'{k} {v}' for k, v in lost.items())}")
    print(
        f"publishing {small:,} messages in order, 512 in flight: nats-py publish_async "
        f"{small / js_seconds:,.0f} msgs/s, the restore's pipeline {small / pipeline_seconds:,.0f} "
        f"msgs/s (ratio {js_seconds / pipeline_seconds:.2f})"
    )
    print(
        f"ratio backup / server snapshot: {snap_seconds / big_seconds:.2f}; "
        f"restore / server snapshot: {snap_seconds / restore_seconds:.2f}; "
        f"archiver / server snapshot: {snap_seconds / archive_seconds:.2f}; "
        f"peak memory big / small: {big_peak / max(small_peak, 1):.2f}, into S3: "
        f"{s3_big[1] / max(s3_small[1], 1):.2f} (1.0: memory does not grow with the stream); "
        f"S3 / folder: {big_seconds / s3_big[0]:.2f}"
    )


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free loopback port with the bucket `bench`; the child's env."""
    from moto.server import ThreadedMotoServer

    from deploykit.backup.store import S3Settings, S3Store

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    port = free_ports(1)[0]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL_S3": endpoint,
    }
    try:
        store = S3Store("s3://bench", S3Settings(endpoint, "us-east-1", "bench", "bench"))
        store.client.create_bucket(Bucket="bench")
        yield env
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=128)
    options = parser.parse_args()
    asyncio.run(main(options.messages, options.size))
