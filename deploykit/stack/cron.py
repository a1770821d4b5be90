"""Five-field crontab expressions: one parser, Railway's rules and a systemd timer's. Pure.

Railway's reference (railwayapp/docs `src/docs/reference/cron-jobs.md`, "Crontab Expressions"
and "Frequency"): minute (0-59), hour (0-23), day of the month (1-31), month (1-12), day of the
week (0-7, 0 and 7 both Sunday); each a `*`, a list with `,`, a range with `-`, a step with `/`
or a number; schedules are in UTC; "the shortest time between successive executions of a cron
job cannot be less than 5 minutes".

The metal tier runs the same schedule as a systemd timer (`deploykit.metal.cron` renders its
`OnCalendar=`), so `timer_fields` takes only what translates exactly: numbers, `*`, lists,
ranges and `*/step`; not steps over ranges or numbers, nor a day of the month together with a
day of the week (cron runs when either matches, systemd only when both do).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "FIELDS",
    "MIN_INTERVAL",
    "Field",
    "Span",
    "cron_problem",
    "parse",
    "shortest_interval",
    "timer_fields",
]


class Field(NamedTuple):
    name: str
    low: int
    high: int


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of the month", 1, 31),
    Field("month", 1, 12),
    Field("day of the week", 0, 7),
)
MIN_INTERVAL = 5  # minutes
DAY = 24 * 60
_ITEM = re.compile(r"(?:(\*)|(\d+)(?:-(\d+))?)(?:/(\d+))?", re.ASCII)


@dataclass(frozen=True)
class Span:
    """One item of a field's list: `start` to `end`, every `step` (None: no `/step` written);
    `star` when it was written `*`."""

    start: int
    end: int
    step: int | None = None
    star: bool = False

    @property
    def values(self) -> range:
        return range(self.start, self.end + 1, self.step or 1)


def _span(item: str, field: Field) -> Span:
    match = _ITEM.fullmatch(item)
    if not match:
        raise ValueError(f"{item!r}: use numbers, `*`, lists, ranges or steps")
    star, first, last, step_text = match.groups()
    step = int(step_text) if step_text else None
    if step == 0:
        raise ValueError(f"{item!r}: a step is a positive number")
    if star:
        return Span(field.low, field.high, step, star=True)
    start = int(first)
    end = int(last) if last else field.high if step else start
    for value in (start, end):
        if not field.low <= value <= field.high:
            raise ValueError(f"{value}: outside {field.low}-{field.high}")
    if end < start:
        raise ValueError(f"{item!r}: a range runs upwards")
    return Span(start, end, step)


def parse(expression: str) -> tuple[tuple[Span, ...], ...]:
    """Each of the five fields as its list of spans; ValueError names the field and the fault."""
    texts = expression.split()
    if len(texts) != len(FIELDS):
        raise ValueError(
            f"{expression!r}: expected a cron expression of 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )
    fields = []
    for text, field in zip(texts, FIELDS, strict=True):
        try:
            fields.append(tuple(_span(item, field) for item in text.split(",")))
        except ValueError as exc:
            raise ValueError(f"{expression!r}: {field.name} {exc}") from None
    return tuple(fields)


def shortest_interval(minutes: set[int], hours: set[int]) -> int:
    """Minutes between the closest two runs on days that follow each other."""
    times = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min([*gaps, times[0] + DAY - times[-1]])


def cron_problem(expression: str) -> str | None:
    """What Railway would refuse in `expression`, or None when it is a schedule it takes."""
    try:
        minutes, hours, *_ = parse(expression)
    except ValueError as exc:
        return str(exc)
    interval = shortest_interval(
        {v for s in minutes for v in s.values}, {v for s in hours for v in s.values}
    )
    if interval < MIN_INTERVAL:
        return (
            f"{expression!r}: runs {interval} minute(s) apart; Railway runs a cron job at most "
            f"every {MIN_INTERVAL} minutes"
        )
    return None


def _every(spans: tuple[Span, ...]) -> bool:
    return spans == (Span(spans[0].start, spans[0].end, star=True),)


def timer_fields(expression: str) -> tuple[tuple[Span, ...], ...]:
    """`parse`, refusing with the reason what a systemd timer would not run exactly the same."""
    fields = parse(expression)
    if not _every(fields[2]) and not _every(fields[4]):
        raise ValueError(
            f"{expression!r}: give a day of the month or a day of the week, not both "
            "(cron runs when either matches, a systemd timer only when both do)"
        )
    for text, spans, field in zip(expression.split(), fields, FIELDS, strict=True):
        where = f"{expression!r}: {field.name} {text!r}"
        if len(spans) > 1 and any(s.star for s in spans):
            raise ValueError(f"{where}: `*` only on its own")
        if field is FIELDS[4] and any(s.step for s in spans):
            raise ValueError(f"{where}: no steps; list the days")
        if any(s.step and not s.star for s in spans):
            raise ValueError(f"{where}: a step only after `*` (`*/15`), not over a range")
    return fields
