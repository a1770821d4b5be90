"""Waiting on a real signal with a deadline: the one polling loop of the tests and `bench/`.

`wait_until` calls a check until it returns something truthy and returns that; `retry` calls
until the call stops raising and returns its result, falsy or not. Each has an async twin.
Which exceptions count as "not yet" is the caller's choice (`ignoring`); any other propagates
at once. Out of time, they raise `TimedOut`, naming what was awaited and the last answer or
error, so a failing test says what it waited for instead of failing later on its absence.
The check always runs at least once, and once more after the deadline is past.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["TimedOut", "retry", "retry_async", "wait_until", "wait_until_async"]

T = TypeVar("T")
Errors = tuple[type[BaseException], ...]


class TimedOut(AssertionError):
    """A wait ran out of time; the message names what it waited for and what it saw last."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        super().__init__(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    poll: float = 0.05,
    ignoring: Errors = (),
) -> T:
    """Call `check` every `poll` seconds until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        past = time.monotonic() > deadline
        error: BaseException | None = None
        try:
            if result := check():
                return result
            last: object = result
        except ignoring as exc:
            last = error = exc
        if past:
            raise TimedOut(what, timeout, last) from error
        time.sleep(poll)


async def wait_until_async(
    check: Callable[[], Awaitable[T | None]],
    timeout: float,
    what: str,
    *,
    poll: float = 0.05,
    ignoring: Errors = (),
) -> T:
    """`wait_until` for an async check, sleeping on the event loop between calls."""
    deadline = time.monotonic() + timeout
    while True:
        past = time.monotonic() > deadline
        error: BaseException | None = None
        try:
            if result := await check():
                return result
            last: object = result
        except ignoring as exc:
            last = error = exc
        if past:
            raise TimedOut(what, timeout, last) from error
        await asyncio.sleep(poll)


def retry(
    call: Callable[[], T], timeout: float, what: str, *, ignoring: Errors, poll: float = 0.2
) -> T:
    """Call until it returns without raising one of `ignoring`; return its result."""
    return wait_until(lambda: (call(),), timeout, what, poll=poll, ignoring=ignoring)[0]


async def retry_async(
    call: Callable[[], Awaitable[T]],
    timeout: float,
    what: str,
    *,
    ignoring: Errors,
    poll: float = 0.2,
) -> T:
    """`retry` for an async call."""

    async def boxed() -> tuple[T]:
        return (await call(),)

    return (await wait_until_async(boxed, timeout, what, poll=poll, ignoring=ignoring))[0]
