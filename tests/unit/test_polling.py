"""The polling helpers: what they return, what counts as "not yet", and what a timeout says."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest

from deploykit.testing.polling import TimedOut, retry, retry_async, wait_until, wait_until_async


def counting(answers: list[object]) -> Callable[[], object]:
    """A check that gives `answers` one per call, raising those that are exceptions."""
    calls = iter(answers)

    def check() -> object:
        answer = next(calls)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return check


def test_wait_until_returns_the_first_truthy_answer() -> None:
    assert wait_until(counting([None, 0, "", "ready"]), 5, "the third answer", poll=0) == "ready"


def test_wait_until_names_what_it_waited_for_and_what_it_saw_last() -> None:
    with pytest.raises(TimedOut) as caught:
        wait_until(lambda: [], 0.01, "the queue to fill", poll=0.001)
    assert str(caught.value) == "timed out after 0.01s waiting for the queue to fill; last: []"
    assert isinstance(caught.value, AssertionError), "pytest reports it as a failed assertion"


def test_wait_until_checks_once_even_with_no_time_and_last_after_the_deadline() -> None:
    calls = itertools.count(1)
    assert wait_until(lambda: next(calls), 0, "anything") == 1
    started = time.monotonic()
    seen: list[float] = []
    with pytest.raises(TimedOut):
        wait_until(lambda: seen.append(time.monotonic()), 0.02, "nothing", poll=0.001)
    assert len(seen) > 1 and seen[-1] > started + 0.02


def test_only_the_ignored_errors_count_as_not_yet() -> None:
    check = counting([ConnectionError("refused"), ConnectionError("refused"), 42])
    assert wait_until(check, 5, "a port", poll=0, ignoring=(ConnectionError,)) == 42
    with pytest.raises(KeyError):
        wait_until(counting([KeyError("x")]), 5, "a key", poll=0, ignoring=(ConnectionError,))


def test_a_timeout_on_errors_chains_the_last_one() -> None:
    def refused() -> None:
        raise ConnectionRefusedError("port 4222")

    with pytest.raises(TimedOut, match=r"waiting for nats.*ConnectionRefusedError") as caught:
        wait_until(refused, 0.01, "nats", poll=0.001, ignoring=(OSError,))
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_retry_returns_a_falsy_result_once_the_call_stops_raising() -> None:
    check = counting([TimeoutError(), TimeoutError(), 0])
    assert retry(check, 5, "a stream", ignoring=(TimeoutError,), poll=0) == 0
    with pytest.raises(TimedOut, match="waiting for a leader"):
        retry(counting([TimeoutError()] * 100), 0.01, "a leader", ignoring=(TimeoutError,))


def test_the_async_twins_behave_alike() -> None:
    async def main() -> None:
        answers = counting([None, OSError(), "up"])

        async def check() -> object:
            return answers()

        assert await wait_until_async(check, 5, "up", poll=0, ignoring=(OSError,)) == "up"

        async def empty() -> list[int]:
            return []

        assert await retry_async(empty, 5, "a list", ignoring=()) == []
        with pytest.raises(TimedOut, match="waiting for never; last: None"):
            await wait_until_async(lambda: asyncio.sleep(0), 0.01, "never", poll=0.001)

    asyncio.run(main())
