"""NATS subjects and JetStream names: validity, matching, overlap.

These rules are the server's (nats-server `subjectIsValid`, `SubjectsCollide`, `isValidName`):
tokens separated by dots, `*` matches one whole token, `>` matches one or more and only last.
"""

from __future__ import annotations

import re

__all__ = [
    "NAME_HELP",
    "SUBJECT_HELP",
    "check_name",
    "check_subject",
    "collide",
    "is_subset",
    "tokens",
]

SUBJECT_HELP = (
    'dot-separated tokens without spaces, "*" for one whole token, ">" only as the last token, '
    'e.g. "orders.created" or "orders.*.shipped" or "orders.>"'
)
NAME_HELP = "letters, digits, '-' and '_' only, 1 to 64 characters"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BAD_IN_TOKEN = re.compile(r"[\s\x00]")
RESERVED_PREFIXES = ("$", "_INBOX")


def tokens(subject: str) -> list[str]:
    return subject.split(".")


def check_subject(subject: str, *, allow_reserved: bool = False) -> str:
    """Return the subject, or raise ValueError saying why the server would refuse it."""
    if not isinstance(subject, str) or not subject:
        raise ValueError("a subject cannot be empty")
    parts = tokens(subject)
    for index, token in enumerate(parts):
        if not token:
            raise ValueError(f"{subject!r} has an empty token")
        if _BAD_IN_TOKEN.search(token):
            raise ValueError(f"{subject!r} contains whitespace")
        if token == ">" and index != len(parts) - 1:
            raise ValueError(f"{subject!r} has '>' before the last token")
        if len(token) > 1 and ("*" in token or ">" in token):
            raise ValueError(f"{subject!r} uses a wildcard inside a token ({token!r})")
    if not allow_reserved and subject.startswith(RESERVED_PREFIXES):
        raise ValueError(f"{subject!r} is in a namespace NATS reserves ($..., _INBOX...)")
    return subject


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid name")
    return name


def collide(a: str, b: str) -> bool:
    """Whether some concrete subject matches both patterns (the server's SubjectsCollide)."""
    ta, tb = tokens(a), tokens(b)
    for x, y in zip(ta, tb, strict=False):
        if x == ">" or y == ">":
            return True
        if x != y and x != "*" and y != "*":
            return False
    return len(ta) == len(tb)


def is_subset(inner: str, outer: str) -> bool:
    """Whether every subject matched by `inner` is also matched by `outer`."""
    ti, to = tokens(inner), tokens(outer)
    for index, y in enumerate(to):
        if y == ">":
            return len(ti) > index
        if index >= len(ti):
            return False
        x = ti[index]
        if x == ">":
            return False
        if y != "*" and x != y:
            return False
    return len(ti) == len(to)
