"""One crontab parser, two sets of rules: Railway takes every five-field form; a systemd timer
only what it runs exactly the same."""

from __future__ import annotations

import re

import pytest

from deploykit.metal.cron import on_calendar
from deploykit.stack.cron import cron_problem, parse, timer_fields


def test_a_field_parses_to_its_spans() -> None:
    minute, hour, day, month, weekday = parse("*/15 1-5/2 7,9 * 1-5")
    assert [list(s.values) for s in minute] == [[0, 15, 30, 45]]
    assert [list(s.values) for s in hour] == [[1, 3, 5]]
    assert [list(s.values) for s in day] == [[7], [9]]
    assert [len(s.values) for s in month] == [12]
    assert [list(s.values) for s in weekday] == [[1, 2, 3, 4, 5]]


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("1-30/5 3 * * *", "minute '1-30/5': a step only after `*`"),
        ("5/10 3 * * *", "minute '5/10': a step only after `*`"),
        ("0 *,3 * * *", "hour '*,3': `*` only on its own"),
        ("0 3 * * 1-5/2", "day of the week '1-5/2': no steps"),
    ],
)
def test_railway_takes_what_a_timer_would_not_run_exactly(schedule: str, why: str) -> None:
    assert cron_problem(schedule) is None
    with pytest.raises(ValueError, match=re.escape(why)):
        timer_fields(schedule)
    with pytest.raises(ValueError, match=re.escape(why)):
        on_calendar(schedule)


@pytest.mark.parametrize("schedule", ["*/ * * * *", "0 3 * * ٣", "0 3 * * 1-"])
def test_half_written_fields_are_refused_by_both(schedule: str) -> None:
    assert "use numbers" in (cron_problem(schedule) or "")
    with pytest.raises(ValueError, match="use numbers"):
        timer_fields(schedule)
