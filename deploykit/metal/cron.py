"""A cron schedule (the stack's `backup.schedule`, also a Kubernetes CronJob's) as a systemd
timer's `OnCalendar=`, so one setting drives both `apps` options. Pure.

Only what translates exactly is accepted: numbers, `*`, lists, ranges and `*/step`. Refused,
with the reason: names (`MON`, `JAN`), steps over ranges, and a day of the month together with
a day of the week (cron runs when either matches, systemd only when both do).
"""

from __future__ import annotations

import re

__all__ = ["on_calendar"]

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# field, lowest, highest, where a systemd repetition starts
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12))


def _part(text: str, what: str, low: int, high: int) -> tuple[int, int | None]:
    """`5` → (5, None); `1-5` → (1, 5), bounds checked."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        raise ValueError(f"{what} {text!r}: use numbers, `*`, lists, ranges or `*/step`")
    start, end = int(match[1]), int(match[2]) if match[2] else None
    for value in (start, end):
        if value is not None and not low <= value <= high:
            raise ValueError(f"{what} {value}: outside {low}-{high}")
    if end is not None and end < start:
        raise ValueError(f"{what} {text!r}: a range runs upwards")
    return start, end


def _field(text: str, what: str, low: int, high: int) -> str:
    if text == "*":
        return "*"
    if text.startswith("*/"):
        step = text[2:]
        if not step.isdigit() or int(step) == 0:
            raise ValueError(f"{what} {text!r}: a step is a positive number")
        return f"{low}/{int(step)}"
    out = []
    for item in text.split(","):
        start, end = _part(item, what, low, high)
        out.append(f"{start}" if end is None else f"{start}..{end}")
    return ",".join(out)


def _weekdays(text: str) -> str:
    if text == "*":
        return ""
    days: list[str] = []
    for item in text.split(","):
        start, end = _part(item, "day of week", 0, 7)
        days += _DAYS[start : (start if end is None else end) + 1]
    return ",".join(dict.fromkeys(days)) + " "  # a list: systemd has no range across Sunday


def on_calendar(cron: str) -> str:
    """`0 3 * * *` → `*-*-* 3:0:00 UTC` (the schedule is UTC, as the CronJob's timeZone)."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"{cron!r}: expected a cron expression of 5 fields")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError(
            f"{cron!r}: give a day of the month or a day of the week, not both "
            "(cron runs when either matches, a systemd timer only when both do)"
        )
    m, h, d, mo = (
        _field(value, what, low, high)
        for value, (what, low, high) in zip((minute, hour, day, month), _FIELDS, strict=True)
    )
    if "/" in weekday:
        raise ValueError(f"day of week {weekday!r}: no steps; list the days")
    return f"{_weekdays(weekday)}*-{mo}-{d} {h}:{m}:00 UTC"
