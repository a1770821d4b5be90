"""Every report format of a smoke run, on its exact output, and the exit code of each."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from rich.console import Console

from deploykit.smoke.report import (
    exit_code,
    hint,
    plain,
    summary,
    table,
    to_json,
    to_junit,
    to_nagios,
    to_prometheus,
    unknown,
)
from deploykit.smoke.results import CheckResult, Metric, SmokeRun, Status

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RESULTS = (
    CheckResult(
        "nats.connect.gateway",
        Status.PASS,
        "connected in 2.0 ms",
        0.0125,
        metrics=(Metric("rtt_seconds", 0.0004, "s"),),
    ),
    CheckResult(
        "jetstream.stream.ACCOUNTS",
        Status.FAIL,
        "stream ACCOUNTS differs | from the declaration",
        0.25,
        details=("max_age: declared 365d, actual 1d",),
        metrics=(Metric("messages", 12),),
    ),
    CheckResult("observability.grafana", Status.SKIP, "the outputs name no Grafana URL", 0.0),
)


def run_of(*results: CheckResult) -> SmokeRun:
    return SmokeRun("acme", "local", ".deploykit/outputs.json", STARTED, 1.5, 10.0, results)


FAILED = run_of(*RESULTS)
PASSED = run_of(RESULTS[0], RESULTS[2])


def test_exit_codes_per_format() -> None:
    assert [exit_code(FAILED, f) for f in ("table", "json", "nagios", "prometheus")] == [1, 1, 2, 0]
    assert [exit_code(PASSED, f) for f in ("table", "json", "nagios", "prometheus")] == [0, 0, 0, 0]


def test_table_and_summary() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None, record=True)
    console.print(table(FAILED))
    console.print(summary(FAILED), highlight=False)
    assert console.export_text() == (
        "      check                          time  result                                        \n"
        "PASS  nats.connect.gateway        12.5 ms  connected in 2.0 ms                           \n"
        "FAIL  jetstream.stream.ACCOUNTS  250.0 ms  stream ACCOUNTS differs | from the declaration\n"
        "                                             max_age: declared 365d, actual 1d           \n"
        "SKIP  observability.grafana        0.0 ms  the outputs name no Grafana URL               \n"
        "smoke fail: 1 passed, 1 failed, 1 skipped in 1.50 s (checks' own time 262.5 ms); "
        "system acme (local)\n"
        "from .deploykit/outputs.json\n"
    )


def test_json() -> None:
    assert json.loads(to_json(FAILED)) == {
        "status": "fail",
        "system": "acme",
        "target": "local",
        "source": ".deploykit/outputs.json",
        "started": "2026-01-02T03:04:05+00:00",
        "duration_seconds": 1.5,
        "latency_sum_seconds": 0.2625,
        "timeout_seconds": 10.0,
        "summary": {"pass": 1, "fail": 1, "skip": 1},
        "root_causes": ["jetstream.stream.ACCOUNTS"],
        "hint": None,
        "checks": [
            {
                "name": "nats.connect.gateway",
                "group": "nats",
                "status": "pass",
                "duration_seconds": 0.0125,
                "message": "connected in 2.0 ms",
                "details": [],
                "metrics": {"rtt_seconds": 0.0004},
                "cause": None,
                "unreachable": False,
            },
            {
                "name": "jetstream.stream.ACCOUNTS",
                "group": "jetstream",
                "status": "fail",
                "duration_seconds": 0.25,
                "message": "stream ACCOUNTS differs | from the declaration",
                "details": ["max_age: declared 365d, actual 1d"],
                "metrics": {"messages": 12},
                "cause": None,
                "unreachable": False,
            },
            {
                "name": "observability.grafana",
                "group": "observability",
                "status": "skip",
                "duration_seconds": 0.0,
                "message": "the outputs name no Grafana URL",
                "details": [],
                "metrics": {},
                "cause": None,
                "unreachable": False,
            },
        ],
    }


def test_junit() -> None:
    assert to_junit(FAILED) == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<testsuites name="deploykit smoke" tests="3" failures="1" errors="0" skipped="1" time="1.500">\n'
        '  <testsuite name="deploykit smoke" tests="3" failures="1" errors="0" skipped="1" time="1.500" '
        'timestamp="2026-01-02T03:04:05">\n'
        "    <properties>\n"
        '      <property name="system" value="acme" />\n'
        '      <property name="target" value="local" />\n'
        '      <property name="source" value=".deploykit/outputs.json" />\n'
        "    </properties>\n"
        '    <testcase classname="smoke.nats" name="nats.connect.gateway" time="0.013">\n'
        "      <system-out>connected in 2.0 ms</system-out>\n"
        "    </testcase>\n"
        '    <testcase classname="smoke.jetstream" name="jetstream.stream.ACCOUNTS" time="0.250">\n'
        '      <failure message="stream ACCOUNTS differs | from the declaration" type="fail">'
        "stream ACCOUNTS differs | from the declaration\n"
        "max_age: declared 365d, actual 1d</failure>\n"
        "    </testcase>\n"
        '    <testcase classname="smoke.observability" name="observability.grafana" time="0.000">\n'
        '      <skipped message="the outputs name no Grafana URL" />\n'
        "    </testcase>\n"
        "  </testsuite>\n"
        "</testsuites>\n"
    )
    ET.fromstring(to_junit(FAILED).split("\n", 1)[1])  # well-formed


def test_nagios_line_like_nats_server_check() -> None:
    assert to_nagios(FAILED) == (
        "CRITICAL deploykit_smoke "
        "Crit:jetstream.stream.ACCOUNTS: stream ACCOUNTS differs / from the declaration "
        "OK:1 passed, 1 skipped of 3 checks "
        "| time=1.5000s passed=1 failed=1 skipped=1 "
        "nats.connect.gateway=0.0125s jetstream.stream.ACCOUNTS=0.2500s"
    )
    assert to_nagios(PASSED) == (
        "OK deploykit_smoke OK:1 passed, 1 skipped of 2 checks "
        "| time=1.5000s passed=1 failed=0 skipped=1 nats.connect.gateway=0.0125s"
    )


def test_prometheus_exposition() -> None:
    assert to_prometheus(FAILED) == (
        "# HELP deploykit_smoke_status_code Nagios compatible status of the whole run "
        "(0 OK, 2 CRITICAL, 3 UNKNOWN)\n"
        "# TYPE deploykit_smoke_status_code gauge\n"
        'deploykit_smoke_status_code{status="CRITICAL"} 2\n'
        "# HELP deploykit_smoke_seconds Wall time of the run\n"
        "# TYPE deploykit_smoke_seconds gauge\n"
        "deploykit_smoke_seconds 1.5\n"
        "# HELP deploykit_smoke_check_status_code Nagios compatible status of each check "
        "(0 OK or SKIPPED, 2 CRITICAL)\n"
        "# TYPE deploykit_smoke_check_status_code gauge\n"
        'deploykit_smoke_check_status_code{item="nats.connect.gateway",status="OK"} 0\n'
        'deploykit_smoke_check_status_code{item="jetstream.stream.ACCOUNTS",status="CRITICAL"} 2\n'
        'deploykit_smoke_check_status_code{item="observability.grafana",status="SKIPPED"} 0\n'
        "# HELP deploykit_smoke_check_seconds Time each check took\n"
        "# TYPE deploykit_smoke_check_seconds gauge\n"
        'deploykit_smoke_check_seconds{item="nats.connect.gateway"} 0.0125\n'
        'deploykit_smoke_check_seconds{item="jetstream.stream.ACCOUNTS"} 0.25\n'
        'deploykit_smoke_check_seconds{item="observability.grafana"} 0\n'
        "# HELP deploykit_smoke_messages Check metric messages\n"
        "# TYPE deploykit_smoke_messages gauge\n"
        'deploykit_smoke_messages{item="jetstream.stream.ACCOUNTS"} 12\n'
        "# HELP deploykit_smoke_rtt_seconds Check metric rtt_seconds\n"
        "# TYPE deploykit_smoke_rtt_seconds gauge\n"
        'deploykit_smoke_rtt_seconds{item="nats.connect.gateway"} 0.0004\n'
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("nagios", "UNKNOWN deploykit_smoke .deploykit/outputs.json: file not found"),
        (
            "prometheus",
            "# HELP deploykit_smoke_status_code Nagios compatible status of the whole run "
            "(0 OK, 2 CRITICAL, 3 UNKNOWN)\n"
            "# TYPE deploykit_smoke_status_code gauge\n"
            'deploykit_smoke_status_code{status="UNKNOWN"} 3\n',
        ),
        ("table", None),
        ("json", None),
    ],
)
def test_what_monitoring_formats_print_when_the_run_cannot_happen(
    fmt: str, expected: str | None
) -> None:
    assert unknown(fmt, ".deploykit/outputs.json: file not found") == expected  # type: ignore[arg-type]  # fmt: the Format literals listed above


# a stopped stack: NATS and the database do not answer; what needs NATS did not run
ROOT_CAUSE = "cannot connect to nats://127.0.0.1:4222: nothing answers"
STOPPED = run_of(
    CheckResult("nats.connect.smoke-core", Status.FAIL, ROOT_CAUSE, 0.1, unreachable=True),
    *(
        CheckResult(name, Status.SKIP, "not run: nats.connect.smoke-core failed", 0.0, cause=cause)
        for name, cause in (
            ("nats.connect.gateway", "nats.connect.smoke-core"),
            ("jetstream.stream.ACCOUNTS", "nats.connect.smoke-core"),
            ("roundtrip.stream", "nats.connect.smoke-core"),
        )
    ),
    CheckResult(
        "database.accounts", Status.FAIL, "cannot connect: refused", 0.002, unreachable=True
    ),
    RESULTS[2],
)
STOPPED_HINT = (
    "nothing answers at NATS and database accounts: the local stack is not running, or part of "
    "it stopped; `deploykit dev up` starts what is not running; 3 other check(s) did not run"
)


def test_a_root_failure_is_shown_once_with_what_it_kept_from_running() -> None:
    assert plain(STOPPED) == (
        f"FAIL  nats.connect.smoke-core  100.0 ms  {ROOT_CAUSE}\n"
        "SKIP  3 checks                           not run because nats.connect.smoke-core "
        "failed: 1 nats, 1 jetstream, 1 roundtrip\n"
        "FAIL  database.accounts          2.0 ms  cannot connect: refused\n"
        "SKIP  observability.grafana      0.0 ms  the outputs name no Grafana URL\n"
        f"{summary(STOPPED)}\n"
        f"hint: {STOPPED_HINT}\n"
    )
    console = Console(file=io.StringIO(), width=200, color_system=None, record=True)
    console.print(table(STOPPED))
    rows = console.export_text().splitlines()
    assert len(rows) == 5 and rows[2].split()[:3] == ["SKIP", "3", "checks"]


def test_plain_keeps_long_messages_on_their_row_and_details_below() -> None:
    long = CheckResult("nats.monitor", Status.FAIL, "x" * 300, 0.5, details=("one", "two"))
    text = plain(run_of(long))
    assert text.splitlines()[:3] == [
        f"FAIL  nats.monitor  500.0 ms  {'x' * 300}",
        "                            one",
        "                            two",
    ]


def test_the_hint_says_where_to_start() -> None:
    assert hint(STOPPED) == STOPPED_HINT
    assert hint(PASSED) is None
    assert hint(FAILED) is None  # one failure that kept nothing from running speaks for itself
    metal = SmokeRun("acme", "metal", "pulumi stack metal", STARTED, 1.0, 10.0, STOPPED.results)
    assert hint(metal) == (
        "nothing answers at NATS and database accounts: is it down, or do the outputs give an "
        "old address?; 3 other check(s) did not run"
    )
    refused = CheckResult("services.accounts", Status.FAIL, "0 of 1 instance(s)", 0.1)
    probe = CheckResult(
        "probes.create-account", Status.SKIP, "not run", 0.0, cause="services.accounts"
    )
    assert (
        hint(run_of(refused, probe)) == "start with services.accounts; 1 other check(s) did not run"
    )


def test_every_format_carries_the_cause() -> None:
    data = json.loads(to_json(STOPPED))
    assert data["root_causes"] == ["nats.connect.smoke-core", "database.accounts"]
    assert data["hint"] == STOPPED_HINT
    causes = {c["name"]: c["cause"] for c in data["checks"]}
    assert causes["roundtrip.stream"] == "nats.connect.smoke-core"
    assert causes["database.accounts"] is None
    assert [c["unreachable"] for c in data["checks"] if c["status"] == "fail"] == [True, True]

    junit = ET.fromstring(to_junit(STOPPED).split("\n", 1)[1])
    blocked = junit.findall(".//testcase[@name='roundtrip.stream']/skipped")
    assert [(b.get("type"), b.get("message")) for b in blocked] == [
        ("blocked", "not run: nats.connect.smoke-core failed")
    ]
    hint_property = junit.find(".//property[@name='hint']")
    assert hint_property is not None and hint_property.get("value") == STOPPED_HINT

    first, long_output = to_nagios(STOPPED).split("\n")
    assert first.startswith(
        f"CRITICAL deploykit_smoke Crit:nats.connect.smoke-core: {ROOT_CAUSE} "
        "Crit:database.accounts: cannot connect: refused "
        "OK:0 passed, 4 skipped (3 not run because of a failure) of 6 checks | "
    )
    assert long_output == f"Hint: {STOPPED_HINT}"

    prometheus = to_prometheus(STOPPED)
    assert (
        'deploykit_smoke_check_blocked{item="roundtrip.stream",cause="nats.connect.smoke-core"} 1\n'
        in prometheus
    )
    assert 'deploykit_smoke_check_blocked{item="database.accounts"' not in prometheus
    assert "deploykit_smoke_check_blocked" not in to_prometheus(FAILED)
    assert [exit_code(STOPPED, f) for f in ("table", "json", "nagios", "prometheus")] == [
        1,
        1,
        2,
        0,
    ]
