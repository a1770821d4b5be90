"""The reference SaaS end to end: the four apps as real processes (`python -m apps.<name>`, env
from `naming.service_env`) against a real nats-server and a real PostgreSQL.

Each app connects as its own user with least-privilege permissions (`PERMISSIONS`, what the
permission compiler should grant), so a subject or JetStream API call an app uses without the
right fails the test. The test itself plays the reconciler as an unrestricted `admin`: it creates
the ACCOUNTS stream, the `welcome` queue consumer and the `flags` KV bucket as deploykit.yaml
declares them. The nats-server is the module's own (it needs these users, and the test counts
events in ACCOUNTS exactly).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import nats
import psycopg
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig, StreamConfig
from nats.js.client import JetStreamContext

from deploykit.local.nats import local_cluster
from deploykit.local.ports import free_ports
from deploykit.local.postgres import LocalPostgres
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime.metricnames import HTTP_DURATION
from deploykit.testing.polling import wait_until, wait_until_async

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NATS_PASSWORD = "nats-secret-5d1e"
DB_PASSWORD = "db-secret-8b2c"  # the owner role's password (SCRAM): it must not leak into logs
CREATED = "accounts.events.created"
WELCOMED = "accounts.events.welcomed"
APPS = ("gateway", "accounts", "welcome", "projector")
HISTORY = 300  # events published at once: the welcome worker is killed while handling them
T = TypeVar("T")
RUNTIME_IMAGE_DEPS = {
    "nats-py",
    "psycopg",
    "pydantic",
    "jsonschema",  # the contracts judge every payload
    "rfc3339-validator",  # without it jsonschema lets any string pass as a date-time
    "jsonschema-rs",  # their verdict, compiled
    "opentelemetry-sdk",
    "opentelemetry-exporter-prometheus",
    "opentelemetry-exporter-otlp-proto-http",
}
IMAGE_DEPS = {app: RUNTIME_IMAGE_DEPS for app in (*APPS, "invoices", "invoicer")} | {
    "gateway": RUNTIME_IMAGE_DEPS | {"uvicorn"}  # the gateway's process form serves with uvicorn
}


@dataclass
class App:
    """One app process and the file it logs to."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 15) -> int:
        """The exit code; a process that hangs dumps its stacks (faulthandler) into its log."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait()
            raise AssertionError(f"{self.proc.args} did not exit:\n{self.output()}") from None

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown exits 0 on its own."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Apps:
    """Starts the apps as real processes (`python -m apps.<name>`); kills leftovers at the end.
    Each app gets the database deploykit.yaml gives it, and its wiring."""

    def __init__(self, logs: Path, nats_url: str, database_urls: dict[str, str]) -> None:
        self.logs = logs
        self.nats_url = nats_url
        self.database_urls = database_urls
        self.manifest = load_manifest(ROOT / "deploykit.yaml")
        self.started: list[App] = []

    def env(self, name: str, port: int | None = None) -> dict[str, str]:
        database = self.manifest.services[name].database
        env = naming.service_env(
            name,
            self.nats_url,
            name,
            NATS_PASSWORD,
            self.database_urls[database] if database else None,
            port=port,
            wiring=wiring_for(self.manifest, name).model_dump_json(),
        )
        return {"PATH": os.environ["PATH"], "PYTHONFAULTHANDLER": "1", **env}

    def start(self, name: str, env: dict[str, str] | None = None) -> App:
        log = self.logs / f"{name}-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"apps.{name}"],
                cwd=ROOT,
                env=env or self.env(name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(App(proc, log))
        return self.started[-1]

    def running(self) -> list[App]:
        return [app for app in self.started if app.proc.poll() is None]


def discovery_and_inbox(service: str) -> list[str]:
    return ["$SRV.*", f"$SRV.*.{service}", f"$SRV.*.{service}.*", f"_INBOX_{service}.>"]


# Least privilege, as the permission compiler should grant it: the apps must work with exactly
# this. NATS wildcards match whole tokens only, so `projector-<id>` cannot be granted as a
# prefix: a fanout service gets any consumer name on its stream except the queue consumers.
PERMISSIONS: dict[str, dict[str, Any]] = {
    "gateway": {
        "publish": [
            "accounts.rpc.create",
            "accounts.rpc.get",
            "$JS.API.STREAM.INFO.KV_flags",
            "$JS.API.STREAM.MSG.GET.KV_flags",
            "$JS.API.DIRECT.GET.KV_flags.$KV.flags.>",
        ],
        "subscribe": ["_INBOX_gateway.>"],
    },
    "accounts": {
        "publish": ["accounts.events.created"],
        "subscribe": [
            "accounts.rpc.create q",
            "accounts.rpc.get q",
            *discovery_and_inbox("accounts"),
        ],
    },
    "welcome": {
        "publish": [
            "$JS.API.CONSUMER.INFO.ACCOUNTS.welcome",
            "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome",
            "$JS.ACK.ACCOUNTS.welcome.>",
            "accounts.events.welcomed",
        ],
        "subscribe": discovery_and_inbox("welcome"),
    },
    "projector": {
        "publish": {
            "allow": ["$JS.API.CONSUMER.CREATE.ACCOUNTS.*", "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.*"],
            "deny": [
                "$JS.API.CONSUMER.CREATE.ACCOUNTS.welcome",
                "$JS.API.CONSUMER.MSG.NEXT.ACCOUNTS.welcome",
            ],
        },
        "subscribe": discovery_and_inbox("projector"),
    },
}


def nats_accounts() -> dict[str, Any]:
    """One bus (account) with a user per app and an unrestricted admin (the test itself)."""
    users = [{"user": "admin", "password": NATS_PASSWORD}]
    for service, permissions in PERMISSIONS.items():
        rules = {"allow_responses": service != "gateway", **permissions}
        users.append({"user": service, "password": NATS_PASSWORD, "permissions": rules})
    return {"core": {"jetstream": "enabled", "users": users}, "SYS": {}}


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster(tmp_path_factory.mktemp("apps-nats"), accounts=nats_accounts()) as cluster:
        yield cluster.url


@pytest.fixture(scope="module")
def database_urls(postgres: LocalPostgres) -> dict[str, str]:
    """Per database of deploykit.yaml a fresh database and owner role of its own, reached with
    a URL that carries a password."""
    urls = {}
    for key in ("accounts", "welcome"):
        name = f"apps_{key}_{uuid.uuid4().hex[:8]}"
        urls[key] = postgres.ensure_database(name, name, DB_PASSWORD)
    return urls


@pytest.fixture
def apps(tmp_path: Path, nats_url: str, database_urls: dict[str, str]) -> Iterator[Apps]:
    apps = Apps(tmp_path, nats_url, database_urls)
    try:
        yield apps
    finally:
        for app in apps.running():
            app.kill()


async def until(
    check: Callable[[], Awaitable[T]], what: str, timeout: float = 10, poll: float = 0.02
) -> T:
    """Poll `check` until it returns something truthy: an app that is not up yet raises."""
    return await wait_until_async(check, timeout, what, poll=poll, ignoring=(Exception,))


async def ping(nc: Client, service: str) -> dict[str, Any]:
    """The first answer to NATS Service discovery for `service`."""
    reply = await nc.request(f"$SRV.PING.{service}", b"", timeout=0.5)
    return json.loads(reply.data)


async def events(js: JetStreamContext, subject: str, account_id: str) -> list[Any]:
    """Every message stored on `subject` for one account, read with a throwaway consumer."""
    sub = await js.pull_subscribe(
        subject, stream="ACCOUNTS", config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    info = await sub.consumer_info()
    msgs: list[Any] = []
    while len(msgs) < info.num_pending:
        msgs += await sub.fetch(min(256, info.num_pending - len(msgs)), timeout=2)
    await js.delete_consumer("ACCOUNTS", info.name)
    await sub.unsubscribe()
    return [m for m in msgs if json.loads(m.data)["id"] == account_id]


def test_each_image_runs_its_app_with_the_dependencies_pinned_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {*project["dependencies"], *project["optional-dependencies"]["apps"]}
    for app, deps in IMAGE_DEPS.items():
        dockerfile = (ROOT / "apps" / app / "Dockerfile").read_text()
        install = dockerfile.split("pip install --no-deps .", 1)[1].split("\nRUN", 1)[0]
        wanted = set(re.findall(r'"([^"]+)"', install))
        assert wanted <= pinned, f"{app}: {wanted - pinned} differ from pyproject.toml"
        names = {re.split(r"[<>=\[]", w)[0] for w in wanted}
        assert names == deps, app
        assert "FROM python:3.11-slim" in dockerfile
        assert "USER app" in dockerfile
        assert dockerfile.rstrip().endswith(f'CMD ["python", "-m", "apps.{app}"]')


def test_bad_configuration_stops_the_app_with_a_clear_message(apps: Apps) -> None:
    no_database = apps.env("accounts")
    del no_database["DATABASE_URL"]
    bad_port = apps.env("gateway", port=8080) | {"PORT": "http"}
    wrong_password = apps.env("projector") | {"NATS_PASSWORD": "wrong"}
    runs = [
        apps.start("accounts", no_database),
        apps.start("gateway", bad_port),
        apps.start("projector", wrong_password),
    ]
    assert [app.wait() for app in runs] == [2, 2, 1]
    assert "bad configuration: DATABASE_URL is required" in runs[0].output()
    assert "bad configuration: PORT='http' is not a TCP port" in runs[1].output()
    assert "cannot connect to NATS at nats://127.0.0.1:" in runs[2].output()
    assert "Authorization Violation" in runs[2].output()


def test_reference_saas_end_to_end(
    apps: Apps, nats_url: str, database_urls: dict[str, str]
) -> None:
    async def scenario() -> None:
        async with Stack(apps, nats_url, database_urls) as stack:
            await stack.workers_refuse_to_start_without_their_stream()
            await stack.an_event_that_cannot_be_stored_fails_the_request()
            await stack.reconcile_then_start_the_workers()
            await stack.the_retried_request_stores_the_account_and_its_event_once()
            await stack.the_gateway_maps_replies_and_errors()
            await stack.welcome_and_projector_follow()
            await stack.a_redelivered_event_changes_nothing()
            await stack.welcome_killed_mid_way_loses_and_duplicates_nothing()
            await stack.a_new_projector_is_ready_only_after_replaying_history()
            await stack.the_signup_flag_turns_signups_off_and_on()
            await stack.every_app_stops_cleanly_and_logs_no_secret()

    asyncio.run(asyncio.wait_for(scenario(), 60))


class Stack:
    """The running system and the test's own connections to NATS, PostgreSQL and HTTP."""

    def __init__(self, apps: Apps, nats_url: str, database_urls: dict[str, str]) -> None:
        self.apps = apps
        self.nats_url = nats_url
        self.database_urls = database_urls
        self.port = free_ports(1)[0]
        self.ada = ""

    async def __aenter__(self) -> Stack:
        self.nc = await nats.connect(self.nats_url, user="admin", password=NATS_PASSWORD)
        self.js = self.nc.jetstream()
        urls = self.database_urls
        self.db = await psycopg.AsyncConnection.connect(urls["accounts"], autocommit=True)
        self.welcome_db = await psycopg.AsyncConnection.connect(urls["welcome"], autocommit=True)
        self.http = aiohttp.ClientSession(f"http://127.0.0.1:{self.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()
        await self.db.close()
        await self.welcome_db.close()
        await self.nc.close()

    async def count(self, sql: str, *params: Any) -> int:
        """A count from the database of the service that owns the table."""
        db = self.welcome_db if "welcomes" in sql else self.db
        cur = await db.execute(sql, params)
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def welcomes_above(self, n: int) -> bool:
        return await self.count("SELECT count(*) FROM welcomes") > n

    async def stored(self, subject: str) -> int:
        """How many messages ACCOUNTS holds on `subject`."""
        info = await self.js.stream_info("ACCOUNTS", subjects_filter=subject)
        return (info.state.subjects or {}).get(subject, 0)

    async def projected(self, **expected: int) -> dict[str, str] | None:
        """The projector's read model as discovery shows it, once it matches `expected`."""
        metadata: dict[str, str] = (await ping(self.nc, "projector"))["metadata"]
        return metadata if all(metadata[k] == str(v) for k, v in expected.items()) else None

    async def welcome_drained(self) -> bool:
        info = await self.js.consumer_info("ACCOUNTS", "welcome")
        return info.num_pending == 0 and info.num_ack_pending == 0

    async def http_ok(self, path: str) -> bool:
        async with self.http.get(path) as r:
            return r.status == 200

    async def workers_refuse_to_start_without_their_stream(self) -> None:
        welcome = self.apps.start("welcome")
        projector = self.apps.start("projector")
        self.apps.start("accounts")
        self.apps.start("gateway", self.apps.env("gateway", port=self.port))
        assert welcome.wait() == 1
        assert "consumer ACCOUNTS/welcome does not exist" in welcome.output()
        assert projector.wait() == 1
        assert "cannot create consumer ACCOUNTS/projector-" in projector.output()
        await until(lambda: ping(self.nc, "accounts"), "accounts to answer discovery")
        await until(lambda: self.http_ok("/healthz"), "gateway /healthz")

    async def an_event_that_cannot_be_stored_fails_the_request(self) -> None:
        r = await self.http.post("/accounts", json={"email": " Ada@Example.com "})
        assert r.status == 503, await r.text()
        assert "retry" in (await r.json())["error"]
        cur = await self.db.execute("SELECT id FROM accounts WHERE email = 'ada@example.com'")
        row = await cur.fetchone()
        assert row is not None, "the row is stored before the event"
        self.ada = str(row[0])

    async def reconcile_then_start_the_workers(self) -> None:
        """The reconciler's part (stream, queue consumer, KV bucket), then the workers."""
        await self.js.add_stream(
            StreamConfig(name="ACCOUNTS", subjects=["accounts.events.>"], duplicate_window=120)
        )
        await self.js.add_consumer(
            "ACCOUNTS", ConsumerConfig(durable_name="welcome", filter_subject=CREATED, ack_wait=2)
        )
        self.kv = await self.js.create_key_value(KeyValueConfig(bucket="flags", history=5))
        self.welcome = self.apps.start("welcome")
        self.projector = self.apps.start("projector")
        await until(lambda: ping(self.nc, "welcome"), "welcome to answer discovery")
        await until(lambda: ping(self.nc, "projector"), "projector to answer discovery")

    async def the_retried_request_stores_the_account_and_its_event_once(self) -> None:
        for _ in range(2):  # the client's retry, and one more: idempotent by email
            r = await self.http.post("/accounts", json={"email": "ada@example.com"})
            assert r.status == 201, await r.text()
            assert (await r.json())["id"] == self.ada
        assert await self.count("SELECT count(*) FROM accounts") == 1
        created = await events(self.js, CREATED, self.ada)
        assert len(created) == 1
        assert created[0].headers["Nats-Msg-Id"] == self.ada
        assert await self.stored(CREATED) == 1

    async def the_gateway_maps_replies_and_errors(self) -> None:
        r = await self.http.get(f"/accounts/{self.ada}")
        assert r.status == 200
        assert (await r.json())["email"] == "ada@example.com"
        assert (await self.http.get(f"/accounts/{uuid.uuid4()}")).status == 404
        assert (await self.http.get("/accounts/not-a-uuid")).status == 400
        assert (await self.http.post("/accounts", json={"email": "nobody"})).status == 400
        assert (await self.http.post("/accounts", data=b"not json")).status == 400

    async def welcome_and_projector_follow(self) -> None:
        await until(lambda: events(self.js, WELCOMED, self.ada), "the welcomed event")
        assert (
            await self.count("SELECT count(*) FROM welcomes WHERE account_id = %s", self.ada) == 1
        )
        model = await until(lambda: self.projected(accounts=1, welcomed=1), "the read model")
        assert model["last_account"] == self.ada
        assert await self.stored(WELCOMED) == 1

    async def a_redelivered_event_changes_nothing(self) -> None:
        created = (await events(self.js, CREATED, self.ada))[0]
        ack = await self.js.publish(CREATED, created.data, headers={"Nats-Msg-Id": "again"})
        await until(lambda: self.acked(ack.seq), "welcome to handle the event again")
        assert await self.count("SELECT count(*) FROM welcomes") == 1
        assert await self.stored(WELCOMED) == 1
        assert "already welcomed (redelivery)" in self.welcome.output()

    async def acked(self, seq: int) -> bool:
        return (await self.js.consumer_info("ACCOUNTS", "welcome")).ack_floor.stream_seq >= seq

    async def welcome_killed_mid_way_loses_and_duplicates_nothing(self) -> None:
        for i in range(HISTORY):
            payload = json.dumps({"id": str(uuid.uuid4()), "email": f"user{i}@example.com"})
            await self.js.publish_async(CREATED, payload.encode())
        await self.js.publish_async_completed()
        await until(lambda: self.welcomes_above(1), "welcome to start on the history")
        self.welcome.kill()
        assert await self.count("SELECT count(*) FROM welcomes") < HISTORY + 1, "not mid-way"
        self.welcome = self.apps.start("welcome")
        await until(self.welcome_drained, "the restarted welcome to catch up", timeout=20)
        assert await self.count("SELECT count(*) FROM welcomes") == HISTORY + 1
        assert await self.stored(WELCOMED) == HISTORY + 1

    async def a_new_projector_is_ready_only_after_replaying_history(self) -> None:
        last_seq = (await self.js.stream_info("ACCOUNTS")).state.last_seq
        old = await until(lambda: self.projected(last_seq=last_seq), "the old read model")
        assert old["accounts"] == old["welcomed"] == str(HISTORY + 1)
        assert self.projector.stop() == 0, self.projector.output()
        self.projector = self.apps.start("projector")
        # Ask continuously from its start: its very first answer must have the whole history.
        first = await until(lambda: ping(self.nc, "projector"), "a new projector", poll=0.001)
        assert first["metadata"]["consumer"] != old["consumer"]
        assert {k: first["metadata"][k] for k in ("accounts", "welcomed", "last_seq")} == {
            k: old[k] for k in ("accounts", "welcomed", "last_seq")
        }

    async def the_signup_flag_turns_signups_off_and_on(self) -> None:
        await self.kv.put("signup_enabled", b"false")
        r = await self.http.post("/accounts", json={"email": "bob@example.com"})
        assert r.status == 403, await r.text()
        assert (
            await self.count("SELECT count(*) FROM accounts WHERE email = 'bob@example.com'") == 0
        )
        await self.kv.put("signup_enabled", b"true")
        assert (await self.http.post("/accounts", json={"email": "bob@example.com"})).status == 201

    async def every_app_stops_cleanly_and_logs_no_secret(self) -> None:
        for app in self.apps.running():
            assert app.stop() == 0, app.output()
        logs = "".join(app.output() for app in self.apps.started)
        assert NATS_PASSWORD not in logs
        assert DB_PASSWORD not in logs


# The gateway in each form it ships in: a local process, a container's command, a Vercel function.

VERCEL_RUNTIME = "vercel-runtime==0.24.1"  # Vercel's Python runtime; it needs Python >= 3.12
VERCEL_PYTHON_HOME = Path.home() / ".cache" / "deploykit" / "vercel-py312"


def vercel_python() -> Path:
    """A Python 3.12 with Vercel's runtime and the function's requirements, made again when
    they change."""
    python = VERCEL_PYTHON_HOME / "bin" / "python"
    ready = VERCEL_PYTHON_HOME / ".deploykit-ready"
    requirements = ROOT / "apps" / "gateway" / "vercel" / "requirements.txt"
    wanted = f"{VERCEL_RUNTIME}\n{requirements.read_text()}"
    if not ready.exists() or ready.read_text() != wanted:
        candidates = [
            *sorted(Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3")),
            *filter(None, [shutil.which("python3.12"), shutil.which("python3.13")]),
        ]
        found = next((c for c in candidates if runs(c)), None)
        if found is None:
            pytest.skip("Vercel's Python runtime needs Python 3.12, which this machine lacks")
        subprocess.run([found, "-m", "venv", "--clear", VERCEL_PYTHON_HOME], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", VERCEL_RUNTIME, "-r", requirements],
            check=True,
            timeout=600,
        )
        ready.write_text(wanted)
    return python


def runs(python: str | Path) -> bool:
    return subprocess.run([python, "-c", ""], capture_output=True).returncode == 0


Ask = Callable[..., tuple[int, Any]]  # (method, path, body=b"") → (status, JSON body)


def answers(ask: Ask) -> None:
    """/healthz, and requests the accounts service answers through the gateway."""
    assert ask("GET", "/healthz") == (200, {"nats": True})
    # the accounts service's answers (the gateway's own 404 says "no route")
    assert ask("GET", f"/accounts/{uuid.uuid4()}") == (404, {"error": "account not found"})
    assert ask("GET", "/accounts/not-a-uuid")[0] == 400
    status, body = ask("POST", "/accounts", b'{"email": "nobody"}')  # the body is forwarded
    assert status == 400 and "email" in body["error"], body


def http_get(base: str) -> Ask:
    def ask(method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        response = httpx.request(method, base + path, content=body, timeout=15)
        return response.status_code, response.json()

    return ask


def serving(base: str, app: App) -> bool:
    assert app.proc.poll() is None, app.output()
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_gateway_runs_as_a_process_a_container_command_and_a_vercel_function(
    apps: Apps, tmp_path: Path, gateway_function: Path
) -> None:
    apps.start("accounts")
    process_port, container_port, asgi_port, metrics_port = free_ports(4)

    # 1. a local process: loopback only unless HOST says otherwise; scraped like every service
    metrics_addr = f"127.0.0.1:{metrics_port}"
    env = apps.env("gateway", port=process_port) | {"DEPLOYKIT_METRICS_ADDR": metrics_addr}
    process = apps.start("gateway", env)
    base = f"http://127.0.0.1:{process_port}"
    wait_until(lambda: serving(base, process), 20, "the gateway process")
    assert f"listening on 127.0.0.1:{process_port}" in process.output()
    wait_until(lambda: http_get(base)("GET", f"/accounts/{uuid.uuid4()}")[0] == 404, 20, "accounts")
    answers(http_get(base))
    scraped = httpx.get(f"http://{metrics_addr}/metrics", timeout=5).text
    durations = [
        line
        for line in scraped.splitlines()
        if line.startswith(f"{HTTP_DURATION.prometheus}_count{{")
    ]
    assert any('http_route="/accounts/{id}"' in d and '"404"' in d for d in durations), scraped
    routes = {m for d in durations for m in re.findall(r'http_route="([^"]*)"', d)}
    assert routes == {"/healthz", "/accounts", "/accounts/{id}"}, "routes, not ids, label them"

    # 2. the container's command, with the image's environment (HOST=0.0.0.0)
    dockerfile = (ROOT / "apps" / "gateway" / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M)[1])  # type: ignore[index]
    image_env = dict(re.findall(r"^ENV (HOST)=(\S+)$", dockerfile, re.M))
    assert command == ["python", "-m", "apps.gateway"] and image_env == {"HOST": "0.0.0.0"}
    env = apps.env("gateway", port=container_port) | image_env
    log = tmp_path / "container.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *command[1:]], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    container = App(proc, log)
    apps.started.append(container)
    base = f"http://127.0.0.1:{container_port}"
    wait_until(lambda: serving(base, container), 20, "the gateway container command")
    assert f"listening on 0.0.0.0:{container_port}" in container.output()
    answers(http_get(base))

    # 3. the Vercel function, from the very files the tier uploads, called by uvicorn as
    # `vercel dev` does (the function's environment has no PORT: Vercel routes to it)
    functions = gateway_function
    env = apps.env("gateway")
    log = tmp_path / "asgi.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.index:app", "--port", str(asgi_port)],
            cwd=functions,
            env=env,
            stdout=out,
            stderr=out,
        )
    asgi = App(proc, log)
    apps.started.append(asgi)
    base = f"http://127.0.0.1:{asgi_port}"
    wait_until(lambda: serving(base, asgi), 20, "the gateway function under uvicorn")
    answers(http_get(base))

    # 4. the Vercel function under Vercel's own runtime (vc_init's Lambda entry, vc_handler),
    # with only the function's requirements installed: the bundle must be complete
    python = vercel_python()
    handler = {
        "__VC_HANDLER_ENTRYPOINT": "api/index.py",
        "__VC_HANDLER_ENTRYPOINT_ABS": str(functions / "api" / "index.py"),
        "__VC_HANDLER_MODULE_NAME": "api.index",
        "__VC_HANDLER_VARIABLE_NAME": "app",
    }
    driver = subprocess.Popen(
        [python, ROOT / "tests" / "integration" / "vercel_function.py"],
        cwd=functions,
        env=apps.env("gateway") | handler,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "vercel.log").open("wb"),
        text=True,
    )
    try:
        assert driver.stdout is not None and driver.stdin is not None
        assert json.loads(driver.stdout.readline()) == {"ready": True}

        def invoke(method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
            headers = {"host": "gateway", "content-type": "application/json"}
            request = {"method": method, "path": path, "headers": headers, "body": body.decode()}
            driver.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
            driver.stdin.flush()  # type: ignore[union-attr]
            result = json.loads(driver.stdout.readline())  # type: ignore[union-attr]
            return result["statusCode"], json.loads(result["body"])

        answers(invoke)
        answers(invoke)  # a warm instance: the same module, the same connection
    finally:
        driver.kill()
        driver.wait()
        if driver.returncode not in (0, -signal.SIGKILL):
            print((tmp_path / "vercel.log").read_text())
