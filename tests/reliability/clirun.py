"""Run `deploykit` in-process through the console script's own entry point (`cli.main`), so an
exception that escapes is exactly the traceback a user would see, at a fraction of the cost
of a new interpreter per command."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploykit.cli import main

__all__ = ["Outcome", "cli"]


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Outcome:
    """`deploykit ARGS` in-process, through the console script's entry point, in `cwd` (else
    in an empty temporary folder, so that nothing lands in the checkout) and with `env` added to
    the environment for the time of the command."""
    out, err = io.StringIO(), io.StringIO()
    argv, here, saved = sys.argv, os.getcwd(), dict(os.environ)
    sys.argv = ["deploykit", *args]
    code = 0
    scratch = tempfile.TemporaryDirectory(prefix="deploykit-cli-")
    try:
        os.environ.update(env or {})
        os.chdir(cwd if cwd is not None else scratch.name)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
        scratch.cleanup()
        os.environ.clear()
        os.environ.update(saved)
    return Outcome(code, out.getvalue(), err.getvalue())
