"""Every error deploykit reports on purpose, and the exit code each one maps to.

    DeploykitError                 exit 2 unless a subclass says otherwise
     ├── ManifestError             deploykit.yaml is unreadable or invalid (a list of problems)
     ├── ConfigError               stack config, outputs file or CLI options are wrong
     ├── ConnectError              a server (NATS, PostgreSQL) cannot be reached or refuses us
     ├── PlanRefused               a plan would destroy data and was not allowed to
     ├── ProcessError              a local process did not start or did not become ready
     ├── JetStreamApiError         a NATS server refused a JetStream API request
     │                             (`deploykit.jetstream.api.ApiError`)
     ├── ApplyError                some steps of an apply failed; the others were applied
     │                             (`deploykit.jetstream.apply.ApplyError`)
     ├── SaasApiError              a SaaS API refused a request that retrying cannot fix
     │    └── deploykit.saas.http.ApiError: AuthError, QuotaError, NotFound
     └── HostStepError             a step of the metal tier failed on a host (over SSH)

Exit codes: 0 success; 1 a check or lint found problems (not an exception); 2 everything here.
The CLI prints `str(error)` and nothing else: no traceback for an error raised on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deploykit.jetstream.apply import ApplyResult
    from deploykit.jetstream.plan import Step

__all__ = [
    "ApplyError",
    "ConfigError",
    "ConnectError",
    "DeploykitError",
    "HostStepError",
    "JetStreamApiError",
    "ManifestError",
    "PlanRefused",
    "Problem",
    "ProcessError",
    "SaasApiError",
]


class DeploykitError(Exception):
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located by its field path."""

    path: str
    message: str
    allowed: str = ""

    def render(self, file: str) -> str:
        where = f"{file}: {self.path}: " if self.path else f"{file}: "
        suffix = f" ({self.allowed})" if self.allowed else ""
        return f"{where}{self.message}{suffix}"


class ManifestError(DeploykitError):
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


class ConfigError(DeploykitError):
    pass


class ConnectError(DeploykitError):
    pass


class PlanRefused(DeploykitError):
    pass


class ProcessError(DeploykitError):
    pass


class JetStreamApiError(DeploykitError):
    """The server refused a JetStream API request; `err_code` is the JetStream error code."""

    def __init__(self, subject: str, code: int, err_code: int, description: str) -> None:
        self.subject = subject
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"{subject}: {description} (error {err_code})")


class ApplyError(DeploykitError):
    """Some steps failed on the server; the others were applied (listed, so nothing is hidden)."""

    def __init__(self, result: ApplyResult, failures: list[tuple[Step, Exception]]) -> None:
        self.result = result
        self.failures = failures
        lines = [f"bus {result.bus}: {len(failures)} step(s) failed, {len(result.done)} applied"]
        lines += [f"  {s.action} {s.label}: failed: {exc}" for s, exc in failures]
        lines += [f"  {s.action} {s.label}: done" for s in result.done]
        super().__init__("\n".join(lines))


class SaasApiError(DeploykitError):
    """A SaaS API (Neon, Railway, Synadia Cloud) answered with an error retrying cannot fix."""


class HostStepError(DeploykitError):
    """A step of the metal tier failed on a host: its script's exit code and last lines."""
