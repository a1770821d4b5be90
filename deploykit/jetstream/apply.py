"""Execute a plan: exactly its steps, nothing more, as concurrently as they allow.

Before the first call the whole plan is checked: a destructive step without `allow_destroy`,
or a delete of an undeclared object without `prune`, refuses the plan and nothing is sent.
Deletes go first (concurrently), then every stream with its consumers as one chain per
stream, all chains at once, bounded by `concurrency` requests in flight. Consumers are
created with action "create" and updated with action "update", so a failed update can never
replace a consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from deploykit.errors import ApplyError, DeploykitError, PlanRefused
from deploykit.jetstream.api import JetStreamApi, count_mutations
from deploykit.jetstream.plan import Plan, Step, update_body

__all__ = ["ApplyError", "ApplyResult", "apply_plan", "check_allowed"]

DEFAULT_CONCURRENCY = 32


@dataclass
class ApplyResult:
    bus: str
    done: list[Step] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    mutations: int = 0


def check_allowed(plan: Plan, *, allow_destroy: bool, prune: bool) -> None:
    """Refuse the whole plan, before any call, if it does something it was not allowed to."""
    problems = []
    if not prune:
        problems += [
            f"  {s.action} {s.label}: not declared (allow with --prune)"
            for s in plan.steps
            if s.undeclared
        ]
    if not allow_destroy:
        problems += [
            f"  {s.action} {s.label}: {s.note or 'destroys data'} (allow with --allow-destroy)"
            for s in plan.destructive
        ]
    if problems:
        raise PlanRefused(
            f"bus {plan.bus}: the plan was refused and nothing was changed:\n" + "\n".join(problems)
        )


async def _execute(api: JetStreamApi, step: Step) -> None:
    stream, consumer, config = step.stream, step.consumer, step.config or {}
    if consumer is None:
        if step.action in ("delete", "replace"):
            await api.delete_stream(stream)
        if step.action in ("create", "replace"):
            await api.create_stream(config)
        elif step.action == "update":
            await api.update_stream(update_body(config, step.actual or {}))
        return
    if step.action in ("delete", "replace"):
        await api.delete_consumer(stream, consumer)
    if step.action in ("create", "replace"):
        await api.create_consumer(stream, config, "create")
    elif step.action == "update":
        await api.create_consumer(stream, update_body(config, step.actual or {}), "update")


async def apply_plan(
    api: JetStreamApi,
    plan: Plan,
    *,
    allow_destroy: bool = False,
    prune: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> ApplyResult:
    check_allowed(plan, allow_destroy=allow_destroy, prune=prune)
    before = dict(api.calls)
    result = ApplyResult(plan.bus)
    failures: list[tuple[Step, Exception]] = []
    limit = asyncio.Semaphore(concurrency)

    async def run(step: Step) -> bool:
        async with limit:
            try:
                await _execute(api, step)
            except DeploykitError as exc:
                failures.append((step, exc))
                return False
        result.done.append(step)
        return True

    async def chain(steps: list[Step]) -> None:
        """A stream's step, then its consumers' (concurrently); none if the stream failed."""
        for step in steps:
            if step.consumer is None and not await run(step):
                return
        await _all(run, [s for s in steps if s.consumer is not None])

    deletes = [s for s in plan.steps if s.action == "delete"]
    await _all(run, [s for s in deletes if s.consumer is not None])
    await _all(run, [s for s in deletes if s.consumer is None])
    chains: dict[str, list[Step]] = {}
    for step in plan.steps:
        if step.action != "delete":
            chains.setdefault(step.stream, []).append(step)
    await asyncio.gather(*(chain(steps) for steps in chains.values()))

    result.calls = {k: v - before.get(k, 0) for k, v in api.calls.items() if v != before.get(k)}
    result.mutations = count_mutations(result.calls)
    if failures:
        raise ApplyError(result, failures)
    return result


async def _all(run: Callable[[Step], Awaitable[bool]], steps: list[Step]) -> None:
    await asyncio.gather(*(run(s) for s in steps))
