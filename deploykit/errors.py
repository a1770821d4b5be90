"""Every error deploykit reports on purpose, and the exit code each one maps to.

    DeploykitError                 exit 2 unless a subclass says otherwise
     ├── ManifestError             deploykit.yaml is unreadable or invalid (a list of problems)
     ├── ConfigError               stack config, outputs file or CLI options are wrong
     ├── ConnectError              a server (NATS, PostgreSQL) cannot be reached or refuses us
     ├── PlanRefused               a plan would destroy data and was not allowed to
     ├── ProcessError              a local process did not start or did not become ready
     └── HostStepError             a step of the metal tier failed on a host (over SSH)

Exit codes: 0 success; 1 a check or lint found problems (not an exception); 2 everything here.
The CLI prints `str(error)` and nothing else: no traceback for an error raised on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConnectError",
    "DeploykitError",
    "HostStepError",
    "ManifestError",
    "PlanRefused",
    "Problem",
    "ProcessError",
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


class HostStepError(DeploykitError):
    pass
