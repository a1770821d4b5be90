"""A smoke run in every format, as pure functions of the run, and the exit code of each.

    table        rich table, one row per check, then a summary line   exit 0 pass, 1 fail
    json         {status, summary, checks: [{name, status, ...}]}     exit 0 pass, 1 fail
    junit        JUnit XML (one testsuite, a testcase per check)      written with --junit FILE
    nagios       one line, as `nats server check`: STATUS name Crit:... OK:... | perfdata
                 exit 0 OK, 2 CRITICAL (a check failed), 3 UNKNOWN (could not run: bad input)
    prometheus   text exposition: per-check status code, duration and metrics; always exit 0

Bad input (usage or configuration) exits 2 in the table and JSON formats, as every deploykit
command does. Nagios never gets WARNING (1): a check passes or fails.
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


def table(run: SmokeRun) -> Table:
    """One row per check; a failure's details follow its message, one per line."""
    grid = Table(box=None, pad_edge=False, show_edge=False)
    grid.add_column("", no_wrap=True)
    grid.add_column(
        "check", no_wrap=True, min_width=max((len(r.name) for r in run.results), default=5)
    )
    grid.add_column("time", no_wrap=True, justify="right")
    grid.add_column("result", ratio=1, overflow="fold")
    for r in run.results:
        text = Text(r.message)
        if r.status is Status.FAIL:
            for detail in r.details:
                text.append(f"\n  {detail}", style="dim")
        grid.add_row(
            Text(r.status.value.upper(), style=_STYLE[r.status]),
            r.name,
            _duration(r.duration),
            text,
        )
    return grid


def _check_json(r: CheckResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "group": r.group,
        "status": r.status.value,
        "duration_seconds": round(r.duration, 6),
        "message": r.message,
        "details": list(r.details),
        "metrics": {m.name: m.value for m in r.metrics},
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
    for name, value in (("system", run.system), ("target", run.target), ("source", run.source)):
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
    parts.append(
        f"OK:{run.count(Status.PASS)} passed, {run.count(Status.SKIP)} skipped "
        f"of {len(run.results)} checks"
    )
    perf = [
        _perf("time", run.duration, "s"),
        _perf("passed", run.count(Status.PASS)),
        _perf("failed", run.count(Status.FAIL)),
        _perf("skipped", run.count(Status.SKIP)),
    ]
    perf += [_perf(r.name, r.duration, "s") for r in run.results if r.status is not Status.SKIP]
    return f"{status} {' '.join(parts)} | {' '.join(perf)}"


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
