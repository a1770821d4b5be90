"""Five-field crontab expressions, as Railway takes them for a service's cron schedule. Pure.

Railway's reference (railwayapp/docs `src/docs/reference/cron-jobs.md`, "Crontab Expressions"
and "Frequency"): minute (0-59), hour (0-23), day of the month (1-31), month (1-12), day of the
week (0-7, 0 and 7 both Sunday); each a `*`, a list with `,`, a range with `-`, a step with `/`
or a number; schedules are in UTC; "the shortest time between successive executions of a cron
job cannot be less than 5 minutes".
"""

from __future__ import annotations

import itertools

__all__ = ["FIELDS", "MIN_INTERVAL", "cron_problem", "expand", "shortest_interval"]

FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of the month", 1, 31),
    ("month", 1, 12),
    ("day of the week", 0, 7),
)
MIN_INTERVAL = 5  # minutes
DAY = 24 * 60


def expand(field: str, low: int, high: int) -> set[int]:
    """The values one field names; ValueError says what is wrong."""
    values: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and (step is None or step < 1):
            raise ValueError(f"{item!r}: the step after / must be a number of at least 1")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise ValueError(f"{item!r}: expected a range like 1-5")
            start, end = int(first), int(last)
        elif span.isdigit():
            start = int(span)
            end = high if step else start
        else:
            raise ValueError(f"{item!r}: expected *, a number, a range or a list")
        if not (low <= start <= end <= high):
            raise ValueError(f"{item!r}: values must be within {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return values


def shortest_interval(minutes: set[int], hours: set[int]) -> int:
    """Minutes between the closest two runs on days that follow each other."""
    times = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min([*gaps, times[0] + DAY - times[-1]])


def cron_problem(expression: str) -> str | None:
    """What Railway would refuse in `expression`, or None when it is a schedule it takes."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        return f"{expression!r}: expected 5 fields (minute hour day-of-month month day-of-week)"
    expanded = []
    for text, (name, low, high) in zip(fields, FIELDS, strict=True):
        try:
            expanded.append(expand(text, low, high))
        except ValueError as exc:
            return f"{expression!r}: {name} {exc}"
    interval = shortest_interval(expanded[0], expanded[1])
    if interval < MIN_INTERVAL:
        return (
            f"{expression!r}: runs {interval} minute(s) apart; Railway runs a cron job at most "
            f"every {MIN_INTERVAL} minutes"
        )
    return None
