"""Durations and sizes as people write them in YAML ("30d", "512MiB"), as JetStream wants them.

JetStream takes durations in nanoseconds and sizes in bytes; the manifest takes either plain
numbers (seconds, bytes) or strings with a unit. Parsing is strict: "1d2" is an error, not 1 day.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration", "parse_size"]

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)")
DURATION_HELP = 'a number of seconds or a string like "500ms", "90s", "15m", "2h", "30d", "1h30m"'

_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")
SIZE_HELP = 'a number of bytes or a string like "512KiB", "100MB", "1GiB"'


def parse_duration(value: object) -> float:
    """Seconds, from an int/float of seconds or a duration string."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a duration, got {value!r}")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{value!r} is not a duration")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact form of a duration, for messages and plans ("30d", "90s", "1.5s")."""
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def parse_size(value: object) -> int:
    """Bytes, from an int of bytes or a size string. -1 means unlimited, as in JetStream."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        if value < -1:
            raise ValueError("a size cannot be negative (-1 means unlimited)")
        return value
    if isinstance(value, float) and value.is_integer():
        return parse_size(int(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a size, got {value!r}")
    match = _SIZE.fullmatch(value.strip())
    if not match or match.group(2).lower() not in _SIZE_UNITS | {"": 1}:
        raise ValueError(f"{value!r} is not a size")
    factor = _SIZE_UNITS.get(match.group(2).lower(), 1)
    return int(float(match.group(1)) * factor)
