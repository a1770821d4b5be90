"""Running `deploykit` as a user does: in-process through the console script's own entry point
(`cli`), or the installed console script in a new process (`run_cli`).

In-process, an exception that escapes is exactly the traceback a user would see, at a fraction
of the cost of a new interpreter per command; a new process also proves the exit code the
shell sees. Both run in the checkout (where the reference deploykit.yaml is) unless told, with
`env` added to the environment for the time of the command.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploykit.cli import main

__all__ = ["CHECKOUT", "Outcome", "cli", "run_cli"]

CHECKOUT = Path(__file__).resolve().parents[2]
DEPLOYKIT = str(Path(sys.executable).parent / "deploykit")  # the console script of this venv


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(*args: str, cwd: Path = CHECKOUT, env: dict[str, str] | None = None) -> Outcome:
    """`deploykit ARGS` in-process, through the console script's entry point."""
    out, err = io.StringIO(), io.StringIO()
    argv, here, saved = sys.argv, os.getcwd(), dict(os.environ)
    sys.argv = ["deploykit", *args]
    code = 0
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return Outcome(code, out.getvalue(), err.getvalue())


def run_cli(
    *args: str, cwd: Path = CHECKOUT, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`deploykit ARGS` as the installed console script, in a new process."""
    return subprocess.run(
        [DEPLOYKIT, *args],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
