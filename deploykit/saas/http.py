"""The one HTTP transport every SaaS client uses: auth headers, retries with backoff, clear errors.

    DeploykitError
     └── ApiError             an API answered with an error that retrying cannot fix
          ├── AuthError       401/403: the token is wrong, expired, or lacks a scope
          ├── QuotaError      the plan's limits are reached (402, or a documented limit error)
          └── NotFound        404: the object is gone; `read()` turns this into "deleted"

What is retried, and why:
- 429 and 503 on every method, honouring `Retry-After` (seconds or an HTTP date): the request was
  not processed. Railway documents `Retry-After` on throttled requests (railwayapp/docs
  `src/docs/reference/public-api.md`, "Rate Limits"); Neon says 503 is "always safe to retry"
  (Neon API v2 "Retry guidance").
- Statuses an API adds for "busy, try again" (Neon: 423 Locked while another operation runs).
- 500/502/504 and broken connections only on idempotent requests: a POST that failed with a 500
  may still have been applied (Neon API v2: "POST/PATCH/DELETE/PUT generally not safe").
  GraphQL queries are POSTs that the caller marks idempotent.

Messages name the API and what to do; they never contain a token (it is only ever a header).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from deploykit.errors import SaasApiError

__all__ = ["ApiError", "AuthError", "HttpClient", "NotFound", "QuotaError", "Service"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_ALWAYS = frozenset({429, 503})
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})
QUOTA_WORDS = ("quota", "limit exceeded", "limit_exceeded", "limit reached", "exceeds the limit")


class ApiError(SaasApiError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    pass


class QuotaError(ApiError):
    pass


class NotFound(ApiError):
    pass


@dataclass(frozen=True)
class Service:
    """Who a client talks to, for messages: the API's name and how to fix a refused token."""

    name: str
    token_hint: str


class HttpClient:
    """An httpx client bound to one API, retrying what is safe and mapping what is not."""

    def __init__(
        self,
        service: Service,
        base_url: str,
        headers: Mapping[str, str],
        *,
        retry_statuses: frozenset[int] = RETRY_ALWAYS,
        attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.service = service
        self._retry = retry_statuses
        self._attempts = attempts
        self._backoff = backoff
        self._max_wait = max_wait
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url, headers=dict(headers), timeout=timeout)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request, retrying as the module docstring says; a response < 400 or an error."""
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._attempts
            try:
                response = self._http.request(
                    method, path, params=params, json=json, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if safe and not last:
                    self._sleep(self._delay(attempt, None))
                    continue
                raise ApiError(
                    f"{self.service.name}: {method} {path}: no answer ({type(exc).__name__}); "
                    "check the network and run again"
                ) from None
            status = response.status_code
            if status < 400:
                return response
            retryable = status in self._retry or (safe and status in RETRY_IF_IDEMPOTENT)
            if retryable and not last:
                self._sleep(self._delay(attempt, response))
                continue
            raise self.error(method, path, status, detail(response), retried=retryable)

    def error(
        self, method: str, path: str, status: int, message: str, *, retried: bool = False
    ) -> ApiError:
        """The deploykit error for a refused request, saying what to do about it."""
        name = self.service.name
        where = f"{method} {path}"
        if status in (401, 403):
            return AuthError(
                f"{name} refused the token ({status} on {where}: {message}). "
                f"{self.service.token_hint}",
                status=status,
            )
        if status == 404:
            return NotFound(f"{name}: {where}: not found ({message})", status=status)
        if status == 402 or any(word in message.lower() for word in QUOTA_WORDS):
            return QuotaError(
                f"{name}: {where}: the plan's limits are reached ({message}); "
                "delete what is no longer used or upgrade the plan, then run again",
                status=status,
            )
        if retried:
            return ApiError(
                f"{name}: {where} still failed with {status} after {self._attempts} attempts "
                f"({message}); wait a minute and run again",
                status=status,
            )
        return ApiError(f"{name}: {where} failed with {status}: {message}", status=status)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        told = retry_after(response.headers.get("Retry-After")) if response is not None else None
        wait = told if told is not None else self._backoff * 2 ** (attempt - 1)
        return min(wait, self._max_wait)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def detail(response: httpx.Response) -> str:
    """What the API said, short: a JSON `message` (with its `code`), else the start of the body.
    Vercel nests them: `{"error": {"code", "message"}}` (vercel/vercel packages/client/src)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return f"{code}: {body['message']}" if code else body["message"]
    return response.text.strip()[:200]
