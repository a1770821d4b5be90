"""The runtime's exceptions.

Exception
├── ConfigError   (settings.py) a missing or malformed environment variable: exit code 2
├── Fatal         the instance cannot run (NATS refused it, its consumer is gone): exit code 1
├── Reject        raised by an endpoint handler: the caller gets this code and description
├── RemoteError   raised by `Service.request`: the endpoint answered with an error
└── EmitFailed    an event was not stored within the emit bound (the caller may retry)
"""

from __future__ import annotations

__all__ = ["EmitFailed", "Fatal", "Reject", "RemoteError"]


class Fatal(Exception):
    """A reason to stop the instance with exit code 1 and one clear line."""


class Reject(Exception):
    """An error answer: `code` is HTTP-like ("400", "404", "503"), as NATS Services carry it."""

    def __init__(self, code: int | str, description: str) -> None:
        super().__init__(f"{code} {description}")
        self.code = str(code)
        self.description = description


class RemoteError(Exception):
    """The called endpoint answered with an error (its code and description), or none answered
    ("503" no responders, "504" no answer in time)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description


class EmitFailed(Exception):
    """The stream did not acknowledge an event within the bound; publishing it again with the
    same message id is safe (the stream stores it once)."""
