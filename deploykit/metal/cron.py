"""A cron schedule (the stack's `backup.schedule`, also a Kubernetes CronJob's) as a systemd
timer's `OnCalendar=`, so one setting drives both `apps` options. Pure.

The schedule is parsed, and what no timer runs exactly refused with the reason, by
`deploykit.stack.cron.timer_fields`; this renders what it returns.
"""

from __future__ import annotations

from deploykit.stack.cron import FIELDS, Span, timer_fields

__all__ = ["on_calendar"]

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _calendar(spans: tuple[Span, ...], low: int) -> str:
    first = spans[0]
    if first.star:  # alone: `*` or `*/step`, a systemd repetition from the lowest value
        return "*" if first.step is None else f"{low}/{first.step}"
    return ",".join(f"{s.start}" if s.start == s.end else f"{s.start}..{s.end}" for s in spans)


def _weekdays(spans: tuple[Span, ...]) -> str:
    if spans[0].star:
        return ""
    days = [day for s in spans for day in _DAYS[s.start : s.end + 1]]
    return ",".join(dict.fromkeys(days)) + " "  # a list: systemd has no range across Sunday


def on_calendar(cron: str) -> str:
    """`0 3 * * *` → `*-*-* 3:0:00 UTC` (the schedule is UTC, as the CronJob's timeZone)."""
    *dates, weekday = timer_fields(cron)
    m, h, d, mo = (
        _calendar(spans, field.low) for spans, field in zip(dates, FIELDS[:4], strict=True)
    )
    return f"{_weekdays(weekday)}*-{mo}-{d} {h}:{m}:00 UTC"
