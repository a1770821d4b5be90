"""A smoke run in every format, as pure functions of the run, and the exit code of each.

    table        rich table, one row per check, then a summary line   exit 0 pass, 1 fail
                 and a hint; `plain` is the same for a pipe or a file: a row per line,
                 never wrapped, details indented below
    json         {status, summary, checks: [{name, status, ...}]}     exit 0 pass, 1 fail
    junit        JUnit XML (one testsuite, a testcase per check)      written with --junit FILE
    nagios       one line, as `nats server check`: STATUS name Crit:... OK:... | perfdata
                 exit 0 OK, 2 CRITICAL (a check failed), 3 UNKNOWN (could not run: bad input)
    prometheus   text exposition: per-check status code, duration and metrics; always exit 0

Bad input (usage or configuration) exits 2 in the table and JSON formats, as every deploykit
command does. Nagios never gets WARNING (1): a check passes or fails.

Every format says which checks did not run because another failed (their `cause`): the table
folds them into one row under the failure, JSON gives each check's cause and the run's root
causes and hint, JUnit marks them skipped with type "blocked", Nagios counts them, Prometheus
has a gauge per blocked check with its cause.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from deploykit.smoke.results import CheckResult, SmokeRun, Status

__all__ = [
    "NAMESPACE",
    "Format",
    "exit_code",
    "hint",
    "plain",
    "summary",
    "table",
    "to_json",
    "to_junit",
    "to_nagios",
    "to_prometheus",
    "unknown",
]

Format = Literal["table", "json", "nagios", "prometheus"]
NAMESPACE = "deploykit_smoke"
SUITE = "deploykit smoke"
_NAGIOS = {Status.PASS: ("OK", 0), Status.FAIL: ("CRITICAL", 2), Status.SKIP: ("SKIPPED", 0)}
_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def exit_code(run: SmokeRun, fmt: Format) -> int:
    if fmt == "prometheus":
        return 0
    if fmt == "nagios":
        return _NAGIOS[run.status][1]
    return 1 if run.status is Status.FAIL else 0


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def summary(run: SmokeRun) -> str:
    return (
        f"smoke {run.status.value}: {run.count(Status.PASS)} passed, "
        f"{run.count(Status.FAIL)} failed, {run.count(Status.SKIP)} skipped in "
        f"{_duration(run.duration)} (checks' own time {_duration(run.latency_sum)}); "
        f"system {run.system} ({run.target}) from {run.source}"
    )


def hint(run: SmokeRun) -> str | None:
    """One line that says where to start: when nothing answered, or when failures kept other
    checks from running."""
    roots = run.roots
    down = [r for r in roots if r.unreachable]
    blocked = sum(1 for r in run.results if r.cause)
    after = f"; {blocked} other check(s) did not run" if blocked else ""
    if down:
        what = _and([_server(r.name) for r in down])
        if run.target == "local":
            return (
                f"nothing answers at {what}: the local stack is not running, or part of it "
                f"stopped; `deploykit dev up` starts what is not running{after}"
            )
        return (
            f"nothing answers at {what}: is it down, or do the outputs give an old address?{after}"
        )
    if blocked:
        return f"start with {_and([r.name for r in roots if run.blocked_by(r.name)])}{after}"
    return None


def _server(check: str) -> str:
    group, _, rest = check.partition(".")
    if group == "nats":
        return "NATS"
    if group == "database":
        return f"database {rest}"
    if group == "services":
        return rest
    return check


def _and(words: list[str]) -> str:
    unique = list(dict.fromkeys(words))
    return unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} and {unique[-1]}"


def _groups(results: tuple[CheckResult, ...]) -> str:
    """`3 nats, 12 jetstream`: what a folded row holds, by group."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.group] = counts.get(r.group, 0) + 1
    return ", ".join(f"{n} {g}" for g, n in counts.items())


def _rows(run: SmokeRun) -> list[tuple[Status, str, str, str, tuple[str, ...]]]:
    """(status, check, time, message, details) per row: a failure's blocked checks are
    folded into one row right under it."""
    rows = []
    for r in run.results:
        if r.cause:
            continue
        details = r.details if r.status is Status.FAIL else ()
        rows.append((r.status, r.name, _duration(r.duration), r.message, details))
        blocked = run.blocked_by(r.name)
        if blocked:
            rows.append(
                (
                    Status.SKIP,
                    f"{len(blocked)} checks",
                    "",
                    f"not run because {r.name} failed: {_groups(blocked)}",
                    (),
                )
            )
    return rows


def table(run: SmokeRun) -> Table:
    """One row per check; a failure's details follow its message, one per line."""
    rows = _rows(run)
    grid = Table(box=None, pad_edge=False, show_edge=False)
    grid.add_column("", no_wrap=True)
    grid.add_column("check", no_wrap=True, min_width=max((len(r[1]) for r in rows), default=5))
    grid.add_column("time", no_wrap=True, justify="right")
    grid.add_column("result", ratio=1, overflow="fold")
    for status, name, took, message, details in rows:
        text = Text(message)
        for detail in details:
            text.append(f"\n  {detail}", style="dim")
        grid.add_row(Text(status.value.upper(), style=_STYLE[status]), name, took, text)
    return grid


def plain(run: SmokeRun) -> str:
    """The table for a pipe or a file: a row per line at its full length (no wrapping at 80
    columns), details indented below, then the summary and the hint."""
    rows = _rows(run)
    width = max((len(r[1]) for r in rows), default=5)
    timing = max((len(r[2]) for r in rows), default=0)
    out = []
    for status, name, took, message, details in rows:
        out.append(f"{status.value.upper():<4}  {name:<{width}}  {took:>{timing}}  {message}")
        out += [f"{'':<{width + timing + 8}}{d}" for d in details]
    out.append(summary(run))
    shown = hint(run)
    return "\n".join([*out, f"hint: {shown}"] if shown else out) + "\n"


def _check_json(r: CheckResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "group": r.group,
        "status": r.status.value,
        "duration_seconds": round(r.duration, 6),
        "message": r.message,
        "details": list(r.details),
        "metrics": {m.name: m.value for m in r.metrics},
        "cause": r.cause or None,
        "unreachable": r.unreachable,
    }


def to_json(run: SmokeRun) -> str:
    return json.dumps(
        {
            "status": run.status.value,
            "system": run.system,
            "target": run.target,
            "source": run.source,
            "started": run.started.isoformat(),
            "duration_seconds": round(run.duration, 6),
            "latency_sum_seconds": round(run.latency_sum, 6),
            "timeout_seconds": run.timeout,
            "summary": {s.value: run.count(s) for s in Status},
            "root_causes": [r.name for r in run.roots],
            "hint": hint(run),
            "checks": [_check_json(r) for r in run.results],
        },
        indent=2,
    )


def to_junit(run: SmokeRun) -> str:
    """JUnit XML as CI systems read it: failures and skips carry the message."""
    counts = {
        "tests": str(len(run.results)),
        "failures": str(run.count(Status.FAIL)),
        "errors": "0",
        "skipped": str(run.count(Status.SKIP)),
        "time": f"{run.duration:.3f}",
    }
    suites = ET.Element("testsuites", {"name": SUITE, **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {"name": SUITE, **counts, "timestamp": run.started.strftime("%Y-%m-%dT%H:%M:%S")},
    )
    properties = ET.SubElement(suite, "properties")
    shown = hint(run)
    for name, value in (
        ("system", run.system),
        ("target", run.target),
        ("source", run.source),
        *((("hint", shown),) if shown else ()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for r in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"smoke.{r.group}", "name": r.name, "time": f"{r.duration:.3f}"},
        )
        if r.status is Status.FAIL:
            failure = ET.SubElement(case, "failure", {"message": r.message, "type": "fail"})
            failure.text = "\n".join((r.message, *r.details))
        elif r.cause:
            ET.SubElement(case, "skipped", {"message": r.message, "type": "blocked"})
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": r.message})
        else:
            ET.SubElement(case, "system-out").text = r.message
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def _nagios_text(text: str) -> str:
    """Nagios splits on `|` and reads the first line only."""
    return " ".join(text.replace("|", "/").split())


def _perf(name: str, value: float, unit: str = "") -> str:
    shown = f"{value:.4f}" if unit == "s" else f"{value:g}"
    return f"{name}={shown}{unit}"


def to_nagios(run: SmokeRun) -> str:
    status = _NAGIOS[run.status][0]
    parts = [NAMESPACE]
    parts += [
        f"Crit:{r.name}: {_nagios_text(r.message)}" for r in run.results if r.status is Status.FAIL
    ]
    blocked = sum(1 for r in run.results if r.cause)
    why = f" ({blocked} not run because of a failure)" if blocked else ""
    parts.append(
        f"OK:{run.count(Status.PASS)} passed, {run.count(Status.SKIP)} skipped{why} "
        f"of {len(run.results)} checks"
    )
    perf = [
        _perf("time", run.duration, "s"),
        _perf("passed", run.count(Status.PASS)),
        _perf("failed", run.count(Status.FAIL)),
        _perf("skipped", run.count(Status.SKIP)),
    ]
    perf += [_perf(r.name, r.duration, "s") for r in run.results if r.status is not Status.SKIP]
    line = f"{status} {' '.join(parts)} | {' '.join(perf)}"
    shown = hint(run)
    return f"{line}\nHint: {_nagios_text(shown)}" if shown else line  # long output: line 2


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{shown}}} {value:g}" if shown else f"{name} {value:g}")
    return lines


def to_prometheus(run: SmokeRun) -> str:
    """Gauges: the run's status code, each check's status code and seconds, each metric."""
    status, code = _NAGIOS[run.status]
    lines = _family(
        f"{NAMESPACE}_status_code",
        "Nagios compatible status of the whole run (0 OK, 2 CRITICAL, 3 UNKNOWN)",
        [({"status": status}, code)],
    )
    lines += _family(f"{NAMESPACE}_seconds", "Wall time of the run", [({}, run.duration)])
    lines += _family(
        f"{NAMESPACE}_check_status_code",
        "Nagios compatible status of each check (0 OK or SKIPPED, 2 CRITICAL)",
        [
            ({"item": r.name, "status": _NAGIOS[r.status][0]}, _NAGIOS[r.status][1])
            for r in run.results
        ],
    )
    lines += _family(
        f"{NAMESPACE}_check_seconds",
        "Time each check took",
        [({"item": r.name}, r.duration) for r in run.results],
    )
    blocked = [({"item": r.name, "cause": r.cause}, 1.0) for r in run.results if r.cause]
    if blocked:
        lines += _family(
            f"{NAMESPACE}_check_blocked",
            "A check that did not run because the check named by cause failed",
            blocked,
        )
    metrics: dict[str, list[tuple[dict[str, str], float]]] = {}
    for r in run.results:
        for m in r.metrics:
            metrics.setdefault(m.name, []).append(({"item": r.name}, m.value))
    for name in sorted(metrics):
        lines += _family(f"{NAMESPACE}_{name}", f"Check metric {name}", metrics[name])
    return "\n".join(lines) + "\n"


def unknown(fmt: Format, message: str) -> str | None:
    """What a monitoring format prints when the run could not happen (bad input)."""
    if fmt == "nagios":
        return f"UNKNOWN {NAMESPACE} {_nagios_text(message)}"
    if fmt == "prometheus":
        return (
            "\n".join(
                _family(
                    f"{NAMESPACE}_status_code",
                    "Nagios compatible status of the whole run (0 OK, 2 CRITICAL, 3 UNKNOWN)",
                    [({"status": "UNKNOWN"}, 3)],
                )
            )
            + "\n"
        )
    return None
