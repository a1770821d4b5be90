"""The reliability suite's figures: each scenario records its row, printed as one table at the
end of the run (the same table `bench/faults.py` prints)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploykit.testing.faults import Figures, format_table

_rows: list[Figures] = []


@pytest.fixture
def record() -> Callable[[Figures], None]:
    """Record a scenario's figures for the summary, and print them (visible with -s)."""

    def add(figures: Figures) -> None:
        _rows.append(figures)
        print(f"\n{format_table([figures])}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _rows:
        terminalreporter.section("fault scenarios: figures")
        terminalreporter.write_line(format_table(_rows))
