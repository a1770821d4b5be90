"""`deploykit dev up` brings the local stack back after its own processes are killed -9, in
whatever order: accounts acknowledged before the crash are still there, welcomed once, every
service answers discovery, the gateway serves a new request.

Uses the session's `dev_stack` and leaves it running, as its fixture asks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploykit.local.stack import LocalStack
from deploykit.testing.faults import KILL_ORDERS, Figures, local_stack_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("order", list(KILL_ORDERS), ids=list(KILL_ORDERS))
def test_up_recovers_from_kill_9_in_any_order(
    dev_stack: LocalStack, record: Callable[[Figures], None], order: str
) -> None:
    names = {name for name, *_ in dev_stack.processes()}
    assert set(KILL_ORDERS[order]) <= names, f"unknown processes: {set(KILL_ORDERS[order]) - names}"
    run = local_stack_fault(dev_stack, order, KILL_ORDERS[order])
    record(run.figures)

    assert run.accounts_before, "no account was created before the crash"
    assert run.found_after == run.accounts_before, "an acknowledged account is gone"
    assert run.welcomed_after == dict.fromkeys(run.accounts_before, 1)
    assert all(run.healthy.values()), {name for name, ok in run.healthy.items() if not ok}
    assert run.created_after, "the gateway refused a new account after recovery"
    assert all(proc.pid() for _, _, proc, _ in dev_stack.processes())
