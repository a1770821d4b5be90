"""Run the chosen checks concurrently under one overall timeout, and time each one.

Every check starts at once (they share connections, not results), except that a check first
waits for the checks it needs: if one of those failed, it is not run and names the root failure
as its cause. The run ends when all are done or the timeout is reached; a check still running then fails with "did not finish",
after a short grace so its cleanup can run. A check's exception becomes its failure message;
nothing escapes as a traceback. Every known secret is scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import nats.errors
import psycopg

from deploykit.errors import ConfigError, DeploykitError
from deploykit.manifest.model import Manifest
from deploykit.smoke.checks import GROUPS, ON_DEMAND, Check, catalogue
from deploykit.smoke.context import Context
from deploykit.smoke.results import (
    CheckFailed,
    CheckResult,
    Outcome,
    SmokeRun,
    Status,
    blocked,
)
from deploykit.stack.outputs import StackOutputs

__all__ = [
    "CLEANUP_GRACE",
    "matches",
    "quiet_library_logs",
    "run_checks",
    "run_smoke",
    "select",
]

CLEANUP_GRACE = 1.0  # seconds a timed-out check gets to undo what it wrote
_EXPECTED = (
    DeploykitError,
    nats.errors.Error,
    psycopg.Error,
    httpx.HTTPError,
    OSError,
    TimeoutError,
)


def quiet_library_logs() -> None:
    """Keep library log records (with tracebacks) off a command's output.

    nats-py logs, traceback included, errors it also raises or that only concern a connection
    smoke is about to close (a ping answered after its timeout, a background reset of an
    ordered consumer), and asyncio logs exceptions of such background tasks. The checks report
    what matters; a command prints its report and no traceback. For commands only: a library
    must not configure logging.
    """
    for name in ("nats", "asyncio"):
        logging.getLogger(name).addHandler(logging.NullHandler())


def matches(name: str, pattern: str) -> bool:
    """A pattern names a check, a group or dotted prefix of names, or is a glob."""
    return name == pattern or name.startswith(f"{pattern}.") or fnmatch.fnmatchcase(name, pattern)


def select(checks: Sequence[Check], only: Sequence[str], skip: Sequence[str]) -> list[Check]:
    """The checks `--only` keeps and `--skip` leaves out; an unknown name is an error.

    A group name is always known, even when this manifest gives the group no check, so that
    `--skip probes` works for every manifest. An on-demand group (backups) runs only when
    `--only` names it.
    """
    unknown = [
        p for p in [*only, *skip] if p not in GROUPS and not any(matches(c.name, p) for c in checks)
    ]
    if unknown:
        raise ConfigError(
            f"unknown check {unknown[0]!r}: give a group ({', '.join(GROUPS)}), a check name "
            "or a glob (see `deploykit smoke --list`)"
        )
    chosen = [
        c
        for c in checks
        if (any(matches(c.name, p) for p in only) if only else c.group not in ON_DEMAND)
    ]
    return [c for c in chosen if not any(matches(c.name, p) for p in skip)]


def _scrub(text: str, secret_values: Sequence[str]) -> str:
    for value in secret_values:
        text = text.replace(value, "********")
    return text


def _result(
    check: Check, outcome: Outcome, took: float, secret_values: Sequence[str]
) -> CheckResult:
    return CheckResult(
        check.name,
        outcome.status,
        _scrub(outcome.message, secret_values),
        took,
        tuple(_scrub(d, secret_values) for d in outcome.details),
        outcome.metrics,
        outcome.cause,
        outcome.unreachable,
    )


def _describe(exc: BaseException) -> str:
    """Our own errors are messages already; a library's gets its type for context."""
    text = str(exc).strip()
    if isinstance(exc, DeploykitError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _timed(check: Check, ctx: Context) -> tuple[Outcome, float]:
    started = time.monotonic()
    try:
        outcome = await check.run(ctx)
    except CheckFailed as exc:
        outcome = Outcome(Status.FAIL, exc.message, exc.details, unreachable=exc.unreachable)
    except _EXPECTED as exc:
        outcome = Outcome(Status.FAIL, _describe(exc))
    except Exception as exc:  # a bug in a check must not hide the other results
        outcome = Outcome(Status.FAIL, f"unexpected error: {type(exc).__name__}: {exc}")
    return outcome, time.monotonic() - started


async def _root_failure(
    check: Check, tasks: dict[str, asyncio.Task[tuple[Outcome, float]]]
) -> str | None:
    """The failure that keeps `check` from running, if any: a needed check that failed (or
    was itself kept from running), or a check it `needs_answer` from that found nothing
    answering. Needs outside the chosen checks do not count."""
    for name, strict in [
        *((n, True) for n in check.needs),
        *((n, False) for n in check.needs_answer),
    ]:
        task = tasks.get(name)
        if task is None:
            continue
        outcome, _ = await asyncio.shield(task)
        if outcome.cause:
            return outcome.cause
        if outcome.status is Status.FAIL and (strict or outcome.unreachable):
            return name
    return None


async def run_checks(
    checks: Sequence[Check],
    manifest: Manifest,
    outputs: StackOutputs,
    timeout: float,
    concurrency: int | None = None,
) -> list[CheckResult]:
    """Every check's result, in order. `concurrency` caps how many run at once (None: all;
    `bench/smoke.py` compares with 1); a check's time starts when its turn comes."""
    ctx = Context(manifest, outputs, timeout, secrets.token_hex(6))
    secret_values = ctx.secrets()
    turns = asyncio.Semaphore(concurrency or len(checks) or 1)
    by_name: dict[str, asyncio.Task[tuple[Outcome, float]]] = {}

    async def in_turn(check: Check) -> tuple[Outcome, float]:
        root = await _root_failure(check, by_name)  # before taking a turn: no deadlock
        if root:
            return blocked(root), 0.0
        async with turns:
            return await _timed(check, ctx)

    tasks = [asyncio.create_task(in_turn(c)) for c in checks]
    by_name.update((c.name, t) for c, t in zip(checks, tasks, strict=True))
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        late = [t for t in tasks if not t.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=CLEANUP_GRACE)
    finally:
        await ctx.close()
    results = []
    for check, task in zip(checks, tasks, strict=True):
        if task.done() and not task.cancelled():
            outcome, took = task.result()
        else:
            outcome = Outcome(Status.FAIL, f"did not finish within the {timeout:g}s timeout")
            took = timeout
        results.append(_result(check, outcome, took, secret_values))
    return results


def run_smoke(
    manifest: Manifest,
    outputs: StackOutputs,
    *,
    source: str,
    timeout: float = 10.0,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> SmokeRun:
    """Select, run and time the checks against `outputs`; raises only for bad input."""
    if outputs.system != manifest.system:
        raise ConfigError(
            f"{source}: the outputs are for system {outputs.system!r}, "
            f"the manifest describes {manifest.system!r}"
        )
    if timeout <= 0:
        raise ConfigError("--timeout must be more than 0 seconds")
    checks = select(catalogue(manifest, outputs), only, skip)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    results = asyncio.run(run_checks(checks, manifest, outputs, timeout))
    return SmokeRun(
        system=outputs.system,
        target=outputs.target,
        source=source,
        started=started_at,
        duration=time.monotonic() - started,
        timeout=timeout,
        results=tuple(results),
    )
