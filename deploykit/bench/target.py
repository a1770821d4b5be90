"""From stack outputs to what bench connects with: the smoke user of the core bus, a database.

The outputs come from the target the CLI chose (`deploykit.stack.target`). They hold no
permissions and do not say which bus is the core one, so when several smoke users are listed,
the one whose account holds the smoke stream is it (`$JS.API.STREAM.NAMES`, which every smoke user may ask).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
from pydantic import SecretStr

from deploykit.bench.results import TargetSummary
from deploykit.bench.settings import Target
from deploykit.errors import ConfigError, ConnectError
from deploykit.manifest import naming
from deploykit.stack.outputs import NatsCredential, StackOutputs

__all__ = ["bench_target", "smoke_targets"]


@contextmanager
def bench_target(
    outputs: StackOutputs, user: str | None, database: str | None, need_database: bool
) -> Iterator[tuple[Target, TargetSummary]]:
    """The Target for the workers (a .creds document goes to a 0600 file that lives as long
    as the run) and its printable summary."""
    url = None
    if need_database:
        url, database = _database(outputs, database)
    with tempfile.TemporaryDirectory(prefix="deploykit-bench-") as tmp:
        name = user or _core_smoke_user(outputs, Path(tmp))
        cred = outputs.credential(name)
        if cred.role != "smoke":
            raise ConfigError(
                f"--user {name} is a {cred.role} user: bench runs as a smoke user only, so that "
                "it never touches production data"
            )
        target = _target(outputs, name, cred, Path(tmp), url, database)
        summary = TargetSummary(
            target=outputs.target,
            system=outputs.system,
            nats_urls=[_without_userinfo(url) for url in outputs.nats.urls],
            cluster_size=outputs.nats.cluster_size,
            user=name,
            database=database,
        )
        yield target, summary


@contextmanager
def smoke_targets(outputs: StackOutputs, users: Iterable[str]) -> Iterator[dict[str, Target]]:
    """Targets of the other buses' smoke users that the cross-bus modes connect as, those the
    outputs list (a .creds document to a 0600 file that lives as long as the run)."""
    with tempfile.TemporaryDirectory(prefix="deploykit-bench-") as tmp:
        yield {
            name: _target(outputs, name, outputs.credential(name), Path(tmp), None, None)
            for name in users
            if name in outputs.nats.credentials
        }


def _without_userinfo(url: str) -> str:
    """A server URL fit to print: `nats://user:secret@host:4222` becomes `nats://host:4222`."""
    scheme, sep, rest = url.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def _database(outputs: StackOutputs, key: str | None) -> tuple[str, str]:
    urls = outputs.database.urls if outputs.database else {}
    if not urls:
        raise ConfigError("the stack outputs give no database: leave out the db modes")
    if key is None:
        key = next(iter(urls))
    if key not in urls:
        raise ConfigError(f"--database {key}: not in the stack outputs (have: {', '.join(urls)})")
    return urls[key], key


def _target(
    outputs: StackOutputs,
    name: str,
    cred: NatsCredential,
    tmp: Path,
    database_url: str | None,
    database: str | None,
) -> Target:
    creds_file = None
    if cred.creds:
        creds_file = tmp / f"{name}.creds"
        fd = os.open(creds_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(cred.creds)
    return Target(
        urls=tuple(outputs.nats.urls),
        user_name=name,
        user=cred.user,
        password=SecretStr(cred.password) if cred.password is not None else None,
        creds_file=str(creds_file) if creds_file else None,
        inbox_prefix=cred.inbox_prefix,
        database_url=SecretStr(database_url) if database_url else None,
        database=database,
    )


def _core_smoke_user(outputs: StackOutputs, tmp: Path) -> str:
    smoke = [n for n, c in outputs.nats.credentials.items() if c.role == "smoke"]
    if not smoke:
        raise ConfigError("the stack outputs list no smoke user (role smoke)")
    if len(smoke) == 1:
        return smoke[0]
    return asyncio.run(_holder_of_smoke_stream(outputs, smoke, tmp))


async def _reported_below(exc: Exception) -> None:
    """nats-py logs a traceback for every failed attempt; the ConnectError below says it once."""


async def _holder_of_smoke_stream(outputs: StackOutputs, users: list[str], tmp: Path) -> str:
    for name in users:
        target = _target(outputs, name, outputs.credential(name), tmp, None, None)
        try:
            nc = await nats.connect(**target.nats_options(0), error_cb=_reported_below)
        except Exception as exc:
            raise ConnectError(
                f"cannot connect to NATS at "
                f"{', '.join(_without_userinfo(u) for u in outputs.nats.urls)} as {name}: {exc}"
            ) from None
        try:
            reply = await nc.request(
                "$JS.API.STREAM.NAMES",
                json.dumps({"subject": naming.SMOKE_SUBJECTS[0]}).encode(),
                timeout=5,
            )
            streams = json.loads(reply.data).get("streams") or []
        except Exception:
            streams = []
        finally:
            await nc.close()
            if target.creds_file:
                Path(target.creds_file).unlink(missing_ok=True)
        if naming.SMOKE_STREAM in streams:
            return name
    raise ConfigError(
        f"none of the smoke users ({', '.join(users)}) sees the stream {naming.SMOKE_STREAM}: "
        "apply the JetStream definitions (`deploykit nats apply`), or name one with --user"
    )
