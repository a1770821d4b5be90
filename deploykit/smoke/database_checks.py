"""The database: each service's URL connects and reports its version; replicas stream.

Replication applies where the outputs list `database.replica_urls` (the metal tier's
PostgreSQL primary and replica): the primary must stream to as many standbys as there are
replica URLs, each replica must be in recovery, and the replay lag is shown.
"""

from __future__ import annotations

import time

import psycopg

from deploykit.smoke.context import Context
from deploykit.smoke.results import CheckFailed, Metric, Outcome, passed, skipped
from deploykit.smoke.verdicts import Standby, judge_replication, millis

__all__ = ["connects", "replication"]

CONNECT_TIMEOUT = 3.0
STANDBYS = """
select coalesce(application_name, client_addr::text, ''), state,
       extract(epoch from replay_lag)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
from pg_stat_replication
"""


async def _connect(ctx: Context, url: str, label: str) -> psycopg.AsyncConnection:
    timeout = ctx.budget(CONNECT_TIMEOUT)
    try:
        return await psycopg.AsyncConnection.connect(
            url, connect_timeout=max(2, round(timeout)), autocommit=True
        )
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        silent = any(word in cause.lower() for word in ("connection refused", "timeout expired"))
        raise CheckFailed(
            f"cannot connect to the {label} database: {cause}", unreachable=silent
        ) from None


async def connects(ctx: Context, key: str) -> Outcome:
    database = ctx.outputs.database
    if database is None or key not in database.urls:
        raise CheckFailed(f"database {key} is declared in the manifest but not in the outputs")
    started = time.monotonic()
    conn = await _connect(ctx, database.urls[key], key)
    async with conn:
        row = await (await conn.execute("select version(), current_user")).fetchone()
        number = conn.info.server_version
    took = time.monotonic() - started
    assert row is not None
    version = " ".join(str(row[0]).split()[:2])
    return passed(
        f"{key}: connected as {row[1]} to {version} in {millis(took)}",
        (),
        Metric("connect_seconds", took, "s"),
        Metric("server_version", number),
    )


async def replication(ctx: Context) -> Outcome:
    database = ctx.outputs.database
    if database is None:
        return skipped("the outputs have no database")
    if database.engine == "yugabyte":
        return skipped("YugabyteDB replicates through its replication factor, not standbys")
    if not database.replica_urls:
        return skipped("the outputs list no replica_urls (replication is the metal tier's)")
    primary_url = database.admin_url or next(iter(database.urls.values()), None)
    if primary_url is None:
        raise CheckFailed("the outputs give no primary URL (admin_url) to read replication from")
    primary = await _connect(ctx, primary_url, "primary")
    async with primary:
        rows = await (await primary.execute(STANDBYS)).fetchall()
    standbys = [Standby(str(r[0]), str(r[1]), r[2], r[3]) for r in rows]
    replicas = []
    for i, url in enumerate(database.replica_urls, 1):
        conn = await _connect(ctx, url, f"replica {i}")
        async with conn:
            row = await (await conn.execute("select pg_is_in_recovery()")).fetchone()
        replicas.append((f"replica {i}", bool(row and row[0])))
    return judge_replication(standbys, replicas)
