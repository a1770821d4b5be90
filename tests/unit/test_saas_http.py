"""The shared transport's rules that no single API fake pins down."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from deploykit.local.ports import free_ports
from deploykit.saas.http import ApiError, HttpClient, QuotaError, Service, detail, retry_after

SERVICE = Service("Example", "set deploykit:exampleToken")


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after("12") == 12.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after(later) or 0) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after(past) == 0.0


def test_detail_prefers_the_json_message_and_code() -> None:
    assert detail(httpx.Response(422, json={"code": "X", "message": "no"})) == "X: no"
    assert detail(httpx.Response(400, json={"message": "no"})) == "no"
    assert detail(httpx.Response(400, text="plain words")) == "plain words"
    assert detail(httpx.Response(400, json=["odd"])) == '["odd"]'


def test_quota_is_recognised_by_status_or_words() -> None:
    client = HttpClient(SERVICE, "http://127.0.0.1:1", {})
    assert isinstance(client.error("POST", "/x", 402, "pay"), QuotaError)
    assert isinstance(client.error("POST", "/x", 400, "account quota reached"), QuotaError)
    assert not isinstance(client.error("POST", "/x", 400, "bad name"), QuotaError)


def test_no_server_is_retried_for_reads_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    (port,) = free_ports(1)
    waits: list[float] = []
    with HttpClient(SERVICE, f"http://127.0.0.1:{port}", {}, sleep=waits.append) as client:
        with pytest.raises(ApiError, match=r"Example: GET /x: no answer \(ConnectError\)"):
            client.request("GET", "/x")
        assert waits == [0.5, 1.0, 2.0, 4.0]
        waits.clear()
        with pytest.raises(ApiError, match="no answer"):
            client.request("POST", "/x")
        assert waits == []


def test_waits_are_capped() -> None:
    client = HttpClient(SERVICE, "http://127.0.0.1:1", {}, max_wait=10)
    told = httpx.Response(429, headers={"Retry-After": "3600"})
    assert client._delay(1, told) == 10
    assert client._delay(9, None) == 10
