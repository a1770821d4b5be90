"""Run the chosen modes one after another against a target, and add the clients' results up.

The runner itself connects once, as the same smoke user, for what surrounds the load: it
checks which rights the user has, seeds what the consume and get modes read, creates the
pull consumer and the bench table, and removes everything the run wrote when it ends (its
subjects purged from the smoke stream and bucket, the consumer deleted, the table dropped),
even when a mode fails. The load itself comes from worker processes (pool.py), one client
each, `--clients` of them per role as `nats bench` runs its clients.

The cross-bus modes follow the paths bench has beside the manifest's (`exports.bench_links`):
their workers connect as the smoke users of the buses a path joins (a pool per user), and each
crossing figure is measured beside the same load on one bus, which it names as its baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import nats
import psycopg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from psycopg import sql

from deploykit.bench.jobs import Job, Role, Tally
from deploykit.bench.pool import Crew, Pool
from deploykit.bench.results import BenchResult, Figure, TargetSummary
from deploykit.bench.settings import SERVICE_NAME, BenchSettings, Mode, Names, Target
from deploykit.bench.stats import latency, split, throughput, unpack
from deploykit.errors import ConfigError, ConnectError
from deploykit.jetstream.publish import publish_settled
from deploykit.laws.natsapi import API
from deploykit.manifest import naming
from deploykit.manifest.crossbus import CrossPath, PathKind

__all__ = ["Progress", "run_bench"]

VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"')
SLACK = 60.0  # seconds past a phase's duration before a silent client counts as hung
SEED_WINDOW = 1000  # outstanding acks while seeding the stream and the bucket
COPY_POLL = 0.02  # seconds between reads of a copy's state while it fills


class Progress(Protocol):
    """Where the runner shows how far the current phase has gone."""

    def begin(self, label: str, total: int, duration: float) -> None: ...

    def update(self, done: int) -> None: ...

    def end(self) -> None: ...


class _Silent:
    def begin(self, label: str, total: int, duration: float) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def end(self) -> None:
        pass


def run_bench(
    settings: BenchSettings,
    target: Target,
    summary: TargetSummary,
    progress: Progress | None = None,
    crossings: Sequence[CrossPath] = (),
    others: Mapping[str, Target] | None = None,
) -> BenchResult:
    """`crossings` are bench's paths between buses, `others` the smoke users they need besides
    `target` (by user name); without them the cross-bus modes say so and measure nothing."""
    runner = Runner(settings, target, summary, progress or _Silent(), crossings, others or {})
    return asyncio.run(runner.run())


class Runner:
    def __init__(
        self,
        settings: BenchSettings,
        target: Target,
        summary: TargetSummary,
        progress: Progress,
        crossings: Sequence[CrossPath] = (),
        others: Mapping[str, Target] | None = None,
    ) -> None:
        self.settings = settings
        self.target = target
        self.summary = summary
        self.progress = progress
        self.names = Names(settings.run)
        self.notes: list[str] = []
        self.admin: Client | None = None
        self.admin_errors: list[str] = []
        self.tracked: Crew | None = None
        self.pool = Pool(target, self._on_progress)
        self.pools = {target.user_name: self.pool}
        self.crossings = list(crossings)
        self.others = dict(others or {})
        self.core_refused = ""
        self.service_refused = ""
        self.seeded: int | None = None
        self.table_made = False

    def _on_progress(self) -> None:
        if self.tracked is not None:
            self.progress.update(self.tracked.progress)

    async def run(self) -> BenchResult:
        figures: list[Figure] = []
        nats_modes = [m for m in self.settings.modes if not m.needs_database]
        try:
            if nats_modes:
                await self._connect()
                await self._check_rights()
            if any(m.needs_database for m in self.settings.modes):
                await asyncio.to_thread(self._make_table)
            for mode in self.settings.modes:
                figures += await MODES[mode](self)
        finally:
            for pool in self.pools.values():
                pool.close()
            await self._clean_up()
        return BenchResult(
            settings=self.settings, target=self.summary, figures=figures, notes=self.notes
        )

    # -- the admin connection: rights, seeding, clean-up ---------------------------------------

    async def _connect(self) -> None:
        async def error(exc: Exception) -> None:
            self.admin_errors.append(str(exc))

        try:
            self.admin = await nats.connect(error_cb=error, **self.target.nats_options(0))
        except Exception as exc:
            raise ConnectError(
                f"cannot connect to NATS at {', '.join(self.summary.nats_urls)} as "
                f"{self.target.user_name}: {exc}"
            ) from None
        version = str(self.admin.connected_server_version)
        self.summary = self.summary.model_copy(update={"server_version": version})
        try:
            await self.admin.jetstream(timeout=5).stream_info(self.names.stream)
        except Exception as exc:
            raise ConfigError(
                f"the smoke stream {self.names.stream} is not readable as {self.target.user_name} "
                f"({exc or type(exc).__name__}): apply the JetStream definitions first "
                "(`deploykit nats apply`; `deploykit dev up` does it)"
            ) from None

    async def _check_rights(self) -> None:
        """May this user publish and subscribe on the core bench subjects, and answer
        requests as a NATS Service? Found out by trying, since the outputs hold no permissions."""
        assert self.admin is not None
        names = await self._admin_request("$JS.API.STREAM.NAMES", {"subject": self.names.core_all})
        capturing = (names or {}).get("streams") or []
        if capturing:
            self.core_refused = self.service_refused = (
                f"stream {', '.join(capturing)} captures {self.names.core_all}: core messages "
                "would be stored"
            )
            return
        self.core_refused = await self._try(self._probe_pubsub)
        self.service_refused = self.core_refused or await self._try(self._probe_service)

    async def _try(self, probe: Callable[[Client], Awaitable[bool]]) -> str:
        assert self.admin is not None
        before = len(self.admin_errors)
        worked = await probe(self.admin)
        await self.admin.flush()
        await asyncio.sleep(0.05)  # the server's -ERR may land just after the PONG
        errors = sorted(set(self.admin_errors[before:]))
        del self.admin_errors[before:]
        if worked and not errors:
            return ""
        verbs = {"publish": "publish to", "subscription": "subscribe to"}
        denied = [f"{verbs[m[1]]} {m[2]}" for e in errors if (m := VIOLATION.search(e))]
        if denied:
            return (
                f"{self.target.user_name} may not {' nor '.join(denied)} "
                "(see `deploykit render permissions`)"
            )
        return "; ".join(errors) or "no message came back"

    async def _probe_pubsub(self, nc: Client) -> bool:
        sub = await nc.subscribe(self.names.probe())
        await nc.publish(self.names.probe(), b"probe")
        try:
            await sub.next_msg(timeout=1)
        except TimeoutError:
            return False
        finally:
            await sub.unsubscribe()
        return True

    async def _probe_service(self, nc: Client) -> bool:
        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        subs = [
            await nc.subscribe(self.names.probe(), cb=echo),
            await nc.subscribe(f"$SRV.PING.{SERVICE_NAME}"),
        ]
        try:
            await nc.request(self.names.probe(), b"probe", timeout=1)
        except Exception:
            return False
        finally:
            for sub in subs:
                await sub.unsubscribe()
        return True

    async def _admin_request(self, subject: str, body: dict[str, Any]) -> dict[str, Any] | None:
        assert self.admin is not None
        try:
            reply = await self.admin.request(subject, json.dumps(body).encode(), timeout=5)
            answer: dict[str, Any] = json.loads(reply.data)
            return answer
        except Exception:
            return None

    async def _seed_stream(self) -> int:
        """Publish what the consume modes read, as many as `--msgs` but at most what fills
        half the smoke stream (it discards its oldest messages beyond its limits)."""
        if self.seeded is not None:
            return self.seeded
        assert self.admin is not None
        js = self.admin.jetstream(timeout=10, publish_async_max_pending=SEED_WINDOW)
        config = (await js.stream_info(self.names.stream)).config
        subject, size = self.names.js_consume, self.settings.size
        count = self.settings.msgs
        if config.max_bytes and config.max_bytes > 0:
            count = min(count, config.max_bytes // 2 // (size + len(subject) + 64))
        if config.max_msgs and config.max_msgs > 0:
            count = min(count, config.max_msgs // 2)
        if count < self.settings.msgs:
            self.notes.append(
                f"js-pull and js-ordered read {count} messages, not --msgs {self.settings.msgs}: "
                f"that is half of what the smoke stream {self.names.stream} keeps"
            )
        payload = bytes(size)
        if count:  # the first waits until the stream answers (just created, cluster settling)
            await publish_settled(js, subject, payload)
        for _ in range(count - 1):
            await js.publish_async(subject, payload)
        await asyncio.wait_for(js.publish_async_completed(), 120)
        self.seeded = await self._pull_consumer(self.names.consumer)
        return self.seeded

    async def _pull_consumer(self, name: str) -> int:
        """A durable pull consumer on every seeded message, made afresh (one left by an
        earlier run under the same name is replaced); how many it has pending."""
        assert self.admin is not None
        js = self.admin.jetstream(timeout=10)
        with contextlib.suppress(Exception):
            await js.delete_consumer(self.names.stream, name)
        info = await js.add_consumer(
            self.names.stream,
            ConsumerConfig(
                durable_name=name,
                filter_subject=self.names.js_consume,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=-1,
                inactive_threshold=300,
            ),
        )
        return info.num_pending or 0

    async def _seed_bucket(self, keys: Sequence[str]) -> None:
        assert self.admin is not None
        js = self.admin.jetstream(timeout=10, publish_async_max_pending=SEED_WINDOW)
        payload = bytes(self.settings.size)
        subjects = [f"$KV.{self.names.bucket}.{key}" for key in keys]
        if subjects:  # the first waits until the bucket's stream answers
            await publish_settled(js, subjects[0], payload)
        for subject in subjects[1:]:
            await js.publish_async(subject, payload)
        await asyncio.wait_for(js.publish_async_completed(), 120)

    async def _purge(self, subject: str, stream: str | None = None) -> None:
        assert self.admin is not None
        with contextlib.suppress(Exception):
            await self.admin.jetstream(timeout=10).purge_stream(
                stream or self.names.stream, subject=subject
            )

    async def _clean_up(self) -> None:
        if self.admin is not None:
            await self._delete_consumers()
            await self._purge(self.names.js_all)
            await self._purge(self.names.kv_all, f"KV_{self.names.bucket}")
            await self.admin.close()
        if self.table_made:
            await asyncio.to_thread(self._drop_table)

    async def _delete_consumers(self) -> None:
        """The pull consumer and the ordered consumers the clients left (the server would drop
        those only after their inactive threshold): every consumer on the run's subjects."""
        assert self.admin is not None
        js = self.admin.jetstream(timeout=10)
        prefix = self.names.js_all.removesuffix(">")
        with contextlib.suppress(Exception):
            for info in await js.consumers_info(self.names.stream):
                filters = [info.config.filter_subject or "", *(info.config.filter_subjects or [])]
                if any(f.startswith(prefix) for f in filters):
                    await js.delete_consumer(self.names.stream, info.name)

    # -- the database ---------------------------------------------------------------------------

    def _db(self) -> psycopg.Connection:
        if self.target.database_url is None:
            raise ConfigError("the stack outputs give no database for the db modes")
        try:
            return psycopg.connect(
                self.target.database_url.get_secret_value(), autocommit=True, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise ConnectError(
                f"cannot connect to the database {self.target.database}: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None

    def _make_table(self) -> None:
        """The run's own table; its first `--keys` rows (client -1) are what db-select reads."""
        table = sql.Identifier(self.names.table)
        with self._db() as conn:
            conn.execute(
                sql.SQL(
                    "create table {} (id bigserial primary key, client integer not null, "
                    "n integer not null, payload bytea not null)"
                ).format(table)
            )
            self.table_made = True
            conn.execute(
                sql.SQL(
                    "insert into {} (client, n, payload) select -1, g, %s from generate_series(1, %s) g"
                ).format(table),
                (bytes(self.settings.size), self.settings.keys),
            )

    def _inserted(self) -> int:
        query = sql.SQL("select count(*) from {} where client >= 0").format(
            sql.Identifier(self.names.table)
        )
        with self._db() as conn:
            row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    def _drop_table(self) -> None:
        with contextlib.suppress(ConnectError, psycopg.Error), self._db() as conn:
            conn.execute(
                sql.SQL("drop table if exists {}").format(sql.Identifier(self.names.table))
            )

    # -- phases ---------------------------------------------------------------------------------

    def _jobs(
        self,
        role: Role,
        clients: int,
        total: int,
        subject: str | Callable[[int], str] = "",
        **fields: object,
    ) -> list[Job]:
        """`clients` jobs sharing `total` operations; `subject` may depend on the client."""
        s = self.settings
        return [
            Job(
                role=role,
                index=i,
                count=count,
                duration=s.duration,
                size=s.size,
                subject=subject(i) if callable(subject) else subject,
                **fields,  # type: ignore[arg-type]  # per-mode fields, validated by the Job model
            )
            for i, count in enumerate(split(total, clients))
        ]

    async def _crew(self, jobs: list[Job], pool: Pool | None = None) -> Crew:
        crew = Crew(pool or self.pool, jobs)
        await crew.launch()
        return crew

    def _track(self, crew: Crew, label: str, total: int) -> None:
        self.tracked = crew
        self.progress.begin(label, total, self.settings.duration)

    async def _finish(self, crew: Crew) -> list[Tally]:
        tallies = await crew.finish(self.settings.duration + SLACK)
        if crew is self.tracked:
            self.progress.end()
            self.tracked = None
        return tallies

    async def _simple(
        self, label: str, jobs: list[Job], total: int, pool: Pool | None = None
    ) -> list[Tally]:
        """Launch, start together, wait for all: the phases with one role."""
        crew = await self._crew(jobs, pool)
        self._track(crew, label, total)
        crew.tell(lambda _: "go")
        return await self._finish(crew)

    def _figure(
        self,
        mode: Mode,
        name: str,
        tallies: Sequence[Tally],
        *,
        expected: int | None = None,
        unit: str = "msgs/s",
        note: str = "",
        error: str = "",
    ) -> Figure:
        """One figure from the clients' tallies; `expected` defaults to what they attempted."""
        measured = throughput([t.timed() for t in tallies])
        errors = sum(t.errors for t in tallies)
        first = error or next((t.error for t in tallies if t.error), "")
        samples = unpack(t.latencies for t in tallies)
        return Figure(
            mode=mode,
            name=name,
            unit=unit,
            clients=len(tallies),
            size=self.settings.size,
            count=measured.count,
            expected=measured.count + errors if expected is None else expected,
            errors=errors + (1 if error else 0),
            error=first,
            seconds=measured.seconds,
            rate=measured.rate,
            per_client=measured.clients,
            latency=latency(samples),
            cut=any(t.cut for t in tallies),
            note=note,
        )

    def _refused(self, mode: Mode, names: Sequence[str], why: str) -> list[Figure]:
        return [
            Figure(mode=mode, name=name, size=self.settings.size, refused=why) for name in names
        ]

    # -- the modes ------------------------------------------------------------------------------

    async def pubsub(self) -> list[Figure]:
        """`--clients` pairs, publisher i to subscriber i on a subject of their own."""
        if self.core_refused:
            return self._refused(Mode.PUBSUB, ("pub", "sub"), self.core_refused)
        c, msgs, subject = self.settings.clients, self.settings.msgs, self.names.core
        subs = self._jobs(Role.SUBSCRIBE, c, msgs, subject)
        pubs = self._jobs(Role.PUBLISH, c, msgs, subject)
        return await self._core(Mode.PUBSUB, subs, pubs, fanout=False)

    async def fanout(self) -> list[Figure]:
        """One publisher, `--subscribers` subscribers, each receiving every message."""
        if self.core_refused:
            return self._refused(Mode.FANOUT, ("pub", "sub"), self.core_refused)
        n, msgs, subject = self.settings.fanout_subscribers, self.settings.msgs, self.names.fanout()
        subs = [
            Job(
                role=Role.SUBSCRIBE,
                index=i,
                count=msgs,
                duration=self.settings.duration,
                subject=subject,
            )
            for i in range(n)
        ]
        pub = self._jobs(Role.PUBLISH, 1, msgs, subject=subject)
        return await self._core(Mode.FANOUT, subs, pub, fanout=True)

    async def _core(
        self, mode: Mode, subs: list[Job], pubs: list[Job], *, fanout: bool
    ) -> list[Figure]:
        readers = await self._crew(subs)
        writers = await self._crew(pubs)
        self._track(writers, f"{mode.value}: {len(pubs)} pub → {len(subs)} sub", self.settings.msgs)
        for crew in (readers, writers):
            crew.tell(lambda _: "go")
        sent = await self._finish(writers)
        total = sum(t.count for t in sent)
        by_pair = {t.index: t.count for t in sent}
        readers.tell(lambda job: ("expect", total if fanout else by_pair.get(job.index, 0)))
        received = await self._finish(readers)
        expected = total * len(subs) if fanout else total
        return [
            self._figure(mode, "pub", sent),
            self._figure(mode, "sub", received, expected=expected),
        ]

    async def service(self) -> list[Figure]:
        """Request/reply with 1 requester, then `--requesters` spread over `--clients`."""
        figures = []
        for requesters in dict.fromkeys((1, self.settings.requesters)):
            if self.service_refused:
                figures.append(await self._direct_requests(requesters))
            else:
                figures.append(await self._service_requests(requesters))
        return figures

    def _requesters(self, requesters: int, subject: str) -> list[Job]:
        clients = min(requesters, self.settings.clients)
        jobs = self._jobs(Role.REQUEST, clients, self.settings.msgs, subject=subject)
        return [
            job.model_copy(update={"concurrency": share})
            for job, share in zip(jobs, split(requesters, clients), strict=True)
        ]

    async def _service_requests(
        self,
        requesters: int,
        mode: Mode = Mode.SERVICE,
        where: str = "",
        subject: str = "",
        asking: Pool | None = None,
        answering: Pool | None = None,
    ) -> Figure:
        """Responders (in `answering`'s processes) and requesters (in `asking`'s) on one
        subject; both default to the core smoke user and the run's own service subject."""
        name = f"{where} {requesters} requester{'s' if requesters > 1 else ''}".strip()
        subject = subject or self.names.service
        responders = await self._crew(
            [
                Job(
                    role=Role.RESPOND,
                    index=i,
                    count=0,
                    duration=self.settings.duration,
                    subject=subject,
                )
                for i in range(self.settings.service_responders)
            ],
            answering,
        )
        crew = await self._crew(self._requesters(requesters, subject), asking)
        self._track(crew, f"{mode.value}: {name}", self.settings.msgs)
        for c in (responders, crew):
            c.tell(lambda _: "go")
        replies = await self._finish(crew)
        responders.tell(lambda _: "stop")
        handled = await self._finish(responders)
        answered = sum(t.count for t in handled)
        issued = sum(t.count + t.errors for t in replies)
        error = (
            "" if answered == issued else f"the responders answered {answered} of {issued} requests"
        )
        return self._figure(
            mode,
            name,
            replies,
            unit="req/s",
            expected=answered,
            note=f"NATS Service {SERVICE_NAME}, {len(handled)} responder(s)",
            error=error,
        )

    async def _direct_requests(self, requesters: int) -> Figure:
        name = f"{requesters} requester{'s' if requesters > 1 else ''}"
        key = f"{self.names.kv_get}.0"
        await self._seed_bucket([key])
        jobs = [  # a direct get's body is JSON or nothing: the "last message of subject" form
            job.model_copy(update={"size": 0})
            for job in self._requesters(requesters, self.names.direct_get(key))
        ]
        crew = await self._crew(jobs)
        self._track(crew, f"service: {name} (direct get)", self.settings.msgs)
        crew.tell(lambda _: "go")
        replies = await self._finish(crew)
        return self._figure(
            Mode.SERVICE,
            name,
            replies,
            unit="req/s",
            note=(
                "measured instead: request/reply answered by nats-server itself (a direct get "
                f"of one key of the {self.names.bucket} bucket), because {self.service_refused}"
            ),
        )

    async def js_pub_sync(self) -> list[Figure]:
        jobs = self._jobs(
            Role.JS_PUBLISH,
            self.settings.clients,
            self.settings.msgs,
            subject=self.names.js_publish,
        )
        tallies = await self._simple("js-pub-sync", jobs, self.settings.msgs)
        await self._purge(self.names.js_publish)
        return [self._figure(Mode.JS_PUB_SYNC, "", tallies, note=f"stream {self.names.stream}")]

    async def js_pub_async(self) -> list[Figure]:
        jobs = self._jobs(
            Role.JS_PUBLISH_ASYNC,
            self.settings.clients,
            self.settings.msgs,
            subject=self.names.js_publish,
            concurrency=self.settings.window,
        )
        tallies = await self._simple("js-pub-async", jobs, self.settings.msgs)
        await self._purge(self.names.js_publish)
        note = (
            f"stream {self.names.stream}, window {self.settings.window}; "
            "latency sampled on every 8th message"
        )
        return [self._figure(Mode.JS_PUB_ASYNC, "", tallies, note=note)]

    async def js_pull(self) -> list[Figure]:
        seeded = await self._seed_stream()
        return [await self._pull(Mode.JS_PULL, "", self.names.consumer, seeded)]

    async def _pull(
        self,
        mode: Mode,
        name: str,
        consumer: str,
        seeded: int,
        pool: Pool | None = None,
        api: str = "",
    ) -> Figure:
        """`--clients` clients sharing one durable pull consumer of the smoke stream."""
        jobs = self._jobs(
            Role.JS_PULL,
            self.settings.clients,
            seeded,
            stream=self.names.stream,
            consumer=consumer,
            concurrency=self.settings.batch,
            api=api,
        )
        jobs = [j.model_copy(update={"count": seeded}) for j in jobs]
        tallies = await self._simple(f"{mode.value} {name}".strip(), jobs, seeded, pool)
        received = sum(t.count for t in tallies)
        cut = any(t.cut for t in tallies)
        return self._figure(
            mode,
            name,
            tallies,
            expected=received if cut else seeded,
            note=f"one durable pull consumer, batch {self.settings.batch}, explicit acks"
            + (f"; --duration ended it after {received} of {seeded}" if cut else ""),
        )

    # -- across buses ---------------------------------------------------------------------------

    def _pool(self, user: str) -> Pool | None:
        """The worker processes that connect as `user`; None when the outputs lack it."""
        if user not in self.pools:
            target = self.others.get(user)
            if target is None:
                return None
            self.pools[user] = Pool(target, self._on_progress)
        return self.pools[user]

    def _uncredited(self, mode: Mode, name: str, *users: str) -> list[Figure]:
        why = f"the stack outputs have no credentials for {', '.join(users)}"
        return self._refused(mode, (name,), why)

    def _crossings(self, kind: PathKind, mode: Mode, none: str) -> list[CrossPath]:
        paths = [p for p in self.crossings if p.kind is kind]
        if not paths:
            self.notes.append(f"{mode.value}: not measured, {none}")
        return paths

    async def service_crossbus(self) -> list[Figure]:
        """Per pair of buses that a call joins: requests answered by the called bus's smoke
        user, sent on that bus (the baseline) and from the calling bus, through its import."""
        mode = Mode.SERVICE_CROSSBUS
        figures: list[Figure] = []
        for path in self._crossings(
            PathKind.CALL, mode, "the manifest declares no call between buses"
        ):
            caller, callee = naming.smoke_user(path.importer), naming.smoke_user(path.exporter)
            asking, answering = self._pool(caller), self._pool(callee)
            across = f"{path.importer}→{path.exporter}"
            if asking is None or answering is None:
                missing = [u for u, p in ((caller, asking), (callee, answering)) if p is None]
                figures += self._uncredited(mode, across, *missing)
                continue
            subject = self.names.crossbus_service(path.exporter)
            for requesters in dict.fromkeys((1, self.settings.requesters)):
                same = await self._service_requests(
                    requesters, mode, f"{path.exporter} same bus", subject, answering, answering
                )
                cross = await self._service_requests(
                    requesters, mode, across, subject, asking, answering
                )
                figures += [same, cross.model_copy(update={"baseline": same.label})]
        return figures

    async def js_pull_crossbus(self) -> list[Figure]:
        """The seeded smoke stream read by one durable pull consumer on the core bus (the
        baseline), then, per bus that consumes the core bus's events, by that bus's smoke user
        through the imports of the core bus's JetStream API."""
        mode = Mode.JS_PULL_CROSSBUS
        paths = self._crossings(
            PathKind.CONSUMER, mode, "no bus consumes the core bus's events across"
        )
        if not paths:
            return []
        seeded = await self._seed_stream()
        consumer = self.names.same_bus_consumer
        await self._pull_consumer(consumer)
        same = await self._pull(mode, f"{paths[0].exporter} same bus", consumer, seeded)
        figures = [same]
        for path in paths:
            across = f"{path.exporter}→{path.importer}"
            pool = self._pool(naming.smoke_user(path.importer))
            if pool is None:
                figures += self._uncredited(mode, across, naming.smoke_user(path.importer))
                continue
            assert path.consumer
            await self._pull_consumer(path.consumer)
            api = naming.crossbus_api(path.exporter)
            cross = await self._pull(mode, across, path.consumer, seeded, pool, api)
            figures.append(cross.model_copy(update={"baseline": same.label}))
        return figures

    async def js_ordered(self) -> list[Figure]:
        seeded = await self._seed_stream()
        c = self.settings.clients
        jobs = [
            Job(
                role=Role.JS_ORDERED,
                index=i,
                count=seeded,
                duration=self.settings.duration,
                subject=self.names.js_consume,
                stream=self.names.stream,
            )
            for i in range(c)
        ]
        tallies = await self._simple("js-ordered", jobs, seeded * c)
        received = sum(t.count for t in tallies)
        cut = any(t.cut for t in tallies)
        return [
            self._figure(
                Mode.JS_ORDERED,
                "",
                tallies,
                expected=received if cut else seeded * c,
                note=f"an ordered consumer per client, each reading all {seeded}"
                + ("; --duration ended it first" if cut else ""),
            )
        ]

    async def kv_put(self) -> list[Figure]:
        jobs = self._jobs(
            Role.KV_PUT,
            self.settings.clients,
            self.settings.msgs,
            self.names.kv_put,
            bucket=self.names.bucket,
            keys=self.settings.keys,
        )
        tallies = await self._simple("kv-put", jobs, self.settings.msgs)
        return [
            self._figure(Mode.KV_PUT, "", tallies, unit="ops/s", note=f"bucket {self.names.bucket}")
        ]

    async def kv_get(self) -> list[Figure]:
        keys = [f"{self.names.kv_get}.{k}" for k in range(self.settings.keys)]
        await self._seed_bucket(keys)
        jobs = self._jobs(
            Role.KV_GET,
            self.settings.clients,
            self.settings.msgs,
            bucket=self.names.bucket,
            subject=self.names.kv_get,
            keys=self.settings.keys,
        )
        tallies = await self._simple("kv-get", jobs, self.settings.msgs)
        return [
            self._figure(
                Mode.KV_GET, "", tallies, unit="ops/s", note=f"random keys of {self.settings.keys}"
            )
        ]

    async def db_insert(self) -> list[Figure]:
        jobs = self._jobs(
            Role.DB_INSERT, self.settings.clients, self.settings.msgs, subject=self.names.table
        )
        tallies = await self._simple("db-insert", jobs, self.settings.msgs)
        stored = await asyncio.to_thread(self._inserted)
        return [
            self._figure(
                Mode.DB_INSERT,
                "",
                tallies,
                unit="tx/s",
                expected=stored,
                note=f"one insert per transaction, table {self.names.table} (dropped at the end)",
            )
        ]

    async def db_select(self) -> list[Figure]:
        jobs = self._jobs(
            Role.DB_SELECT,
            self.settings.clients,
            self.settings.msgs,
            subject=self.names.table,
            keys=self.settings.keys,
        )
        tallies = await self._simple("db-select", jobs, self.settings.msgs)
        return [
            self._figure(
                Mode.DB_SELECT,
                "",
                tallies,
                unit="tx/s",
                note=f"primary-key select of one of {self.settings.keys} rows per transaction",
            )
        ]

    async def js_copy_crossbus(self) -> list[Figure]:
        """The seeded smoke messages copied by a stream that sources them: one on the core bus
        (the baseline), then, per bus that copies core events, one on that bus through the
        imports (the way `sources` copies across); each timed from its creation until it
        holds every message, then removed."""
        mode = Mode.JS_COPY_CROSSBUS
        paths = self._crossings(PathKind.SOURCE, mode, "no bus copies the core bus's events")
        if not paths:
            return []
        seeded = await self._seed_stream()
        assert self.admin is not None
        same = await self._copy(self.admin, f"{paths[0].exporter} same bus", seeded, None)
        figures = [same]
        for path in paths:
            across = f"{path.exporter}→{path.importer}"
            target = self.others.get(naming.smoke_user(path.importer))
            if target is None:
                figures += self._uncredited(mode, across, naming.smoke_user(path.importer))
                continue
            nc = await nats.connect(**target.nats_options(0))
            try:
                cross = await self._copy(nc, across, seeded, path)
            finally:
                await nc.close()
            figures.append(cross.model_copy(update={"baseline": same.label}))
        return figures

    async def _copy(self, nc: Client, name: str, seeded: int, path: CrossPath | None) -> Figure:
        """One copy of the seeded messages on `nc`'s bus, from the core smoke stream directly
        (`path` None) or through the imports of a cross-bus copy; waits until it holds them all
        or the phase's duration (and slack) is up, reading the stream's state."""
        source: dict[str, Any] = {
            "name": self.names.stream,
            "filter_subject": self.names.js_consume,
        }
        if path is not None:
            source["external"] = {
                "api": naming.crossbus_api(path.exporter),
                "deliver": naming.source_deliver(path.importer, naming.BENCH_COPY_STREAM),
            }
        stream = naming.BENCH_COPY_STREAM
        assert self.admin is not None
        smoke = (await self.admin.jetstream(timeout=10).stream_info(self.names.stream)).config
        config = {
            "name": stream,
            "storage": "file",
            "num_replicas": 1,
            "max_bytes": smoke.max_bytes or -1,
            "sources": [source],
        }
        api = f"{API}.STREAM"
        await nc.request(f"{api}.DELETE.{stream}", b"", timeout=10)  # one an earlier run left
        start = time.perf_counter()
        reply = await nc.request(f"{api}.CREATE.{stream}", json.dumps(config).encode(), timeout=10)
        made = json.loads(reply.data)
        copied, error = 0, made.get("error", {}).get("description", "")
        deadline = start + self.settings.duration + SLACK
        while not error and copied < seeded and time.perf_counter() < deadline:
            info = json.loads((await nc.request(f"{api}.INFO.{stream}", b"", timeout=10)).data)
            copied = info.get("state", {}).get("messages", 0)
            if copied < seeded:
                await asyncio.sleep(COPY_POLL)
        seconds = time.perf_counter() - start
        await nc.request(f"{api}.DELETE.{stream}", b"", timeout=10)
        return Figure(
            mode=Mode.JS_COPY_CROSSBUS,
            name=name,
            clients=1,
            size=self.settings.size,
            count=copied,
            expected=seeded,
            errors=1 if error else 0,
            error=error,
            seconds=seconds,
            rate=copied / seconds if seconds else 0.0,
            note="a stream sourcing the seeded messages, from its creation until it holds all",
        )


MODES: dict[Mode, Callable[[Runner], Awaitable[list[Figure]]]] = {
    Mode.PUBSUB: Runner.pubsub,
    Mode.FANOUT: Runner.fanout,
    Mode.SERVICE: Runner.service,
    Mode.JS_PUB_SYNC: Runner.js_pub_sync,
    Mode.JS_PUB_ASYNC: Runner.js_pub_async,
    Mode.JS_PULL: Runner.js_pull,
    Mode.JS_ORDERED: Runner.js_ordered,
    Mode.KV_PUT: Runner.kv_put,
    Mode.KV_GET: Runner.kv_get,
    Mode.DB_INSERT: Runner.db_insert,
    Mode.DB_SELECT: Runner.db_select,
    Mode.SERVICE_CROSSBUS: Runner.service_crossbus,
    Mode.JS_PULL_CROSSBUS: Runner.js_pull_crossbus,
    Mode.JS_COPY_CROSSBUS: Runner.js_copy_crossbus,
}
