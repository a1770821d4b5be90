"""`deploykit backup --keep N`: the last N complete snapshots of each stream stay, older ones go.

Only folders named as `deploykit backup` names them (`<STREAM>-<UTC stamp>`) count, so another
stream whose name starts the same, an unfinished `.partial` folder or anything else in the
folder is never touched. The newest snapshots are found by their stamps, not by file times.
Effectful (removes folders); `expired` decides.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

__all__ = ["expired", "prune"]

_STAMP = re.compile(r"\d{8}T\d{12}Z")


def expired(names: Iterable[str], stream: str, keep: int) -> list[str]:
    """The snapshot folder names of `stream` beyond the newest `keep`, oldest first."""
    mine = sorted(
        name
        for name in names
        if name.startswith(f"{stream}-") and _STAMP.fullmatch(name[len(stream) + 1 :])
    )
    return mine[: max(len(mine) - keep, 0)]


def prune(folder: Path, stream: str, keep: int) -> list[Path]:
    """Remove `stream`'s snapshots in `folder` beyond the newest `keep`; the removed ones."""
    names = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    gone = [folder / name for name in expired(names, stream, keep)]
    for path in gone:
        shutil.rmtree(path)
    return gone
