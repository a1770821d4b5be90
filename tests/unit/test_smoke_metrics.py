"""smoke's verdict on a service's metrics page (pure)."""

from __future__ import annotations

from deploykit.smoke.metrics_checks import judge_metrics
from deploykit.smoke.results import Status

PAGE = """\
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="welcome"} 1.0
# HELP messaging_client_consumed_messages_total Messages a service received
# TYPE messaging_client_consumed_messages_total counter
messaging_client_consumed_messages_total{messaging_consumer_group_name="welcome"} 3.0
# HELP messaging_process_duration_seconds Time a handler took for one message
# TYPE messaging_process_duration_seconds histogram
messaging_process_duration_seconds_bucket{le="+Inf"} 3.0
messaging_process_duration_seconds_count 3.0
messaging_process_duration_seconds_sum 0.01
"""


def test_catalogue_names_pass_and_are_listed() -> None:
    outcome = judge_metrics("welcome", PAGE)
    assert outcome.status is Status.PASS
    assert outcome.message == (
        "welcome: 2 of the catalogue's 9: messaging_client_consumed_messages, "
        "messaging_process_duration_seconds"
    )


def test_a_renamed_metric_fails() -> None:
    page = PAGE.replace("messaging_process_duration_seconds", "messaging_process_duration_ms")
    outcome = judge_metrics("welcome", page)
    assert outcome.status is Status.FAIL
    assert "messaging_process_duration_ms" in outcome.message


def test_a_page_without_metrics_yet_passes_and_says_so() -> None:
    outcome = judge_metrics("gateway", "")
    assert outcome.status is Status.PASS
    assert "none yet" in outcome.message


def test_not_prometheus_text_fails() -> None:
    assert judge_metrics("x", "<html>oops</html>\n").status is Status.FAIL
