"""A Python service started ahead of its turn: it imports the runtime while the servers settle,
then runs when the local stack says go.

    python -m deploykit.local.launch FD -m apps.accounts [ARG ...]
    python -m deploykit.local.launch FD path/to/service.py [ARG ...]

Most of a Python service's start is its imports (the runtime, nats-py, OpenTelemetry, a few
tenths of a second of CPU together; psycopg and the metrics exporter when its settings use
them: `Settings.imports`), and `dev up` used to pay them only after NATS had elected its
leaders and the JetStream definitions were applied. Started this way, a service imports while
that happens, then blocks on FD, the read end of a pipe `dev up` holds: "go" runs the service in
this very process (same pid, same log, same environment), as `python -m` or `python SCRIPT`
would; the end of the pipe without "go" (`dev up` failed or was interrupted) ends it quietly.
"""

from __future__ import annotations

import gc
import importlib
import os
import runpy
import sys
from collections.abc import Sequence

__all__ = ["GO", "launcher_argv", "main"]

GO = b"go"


def launcher_argv(argv: Sequence[str], fd: int) -> list[str] | None:
    """`argv` (a Python interpreter running a module or a script) behind the gate on `fd`, or
    None when it is anything else (another program, interpreter options), which starts as is."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    rest = list(argv[1:])
    if (rest[0] == "-m" and len(rest) > 1) or not rest[0].startswith("-"):
        return [sys.executable, "-m", __name__, str(fd), *rest]
    return None


def main(args: Sequence[str]) -> int:
    fd, target = int(args[0]), list(args[1:])
    gc.disable()  # imports make many objects and no garbage (as the CLI's main: a tenth less CPU)
    from deploykit.runtime import ConfigError, Settings  # the point: before the go

    try:
        needed = Settings.from_env(os.environ).imports()
    except ConfigError:  # the service says so itself once it runs
        needed = []
    for name in needed:
        importlib.import_module(name)
    gc.freeze()
    gc.enable()

    with os.fdopen(fd, "rb") as gate:
        if gate.read(len(GO)) != GO:
            return 0
    if target[0] == "-m":
        sys.argv = [target[1], *target[2:]]
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = target
        sys.path[0] = os.path.dirname(os.path.abspath(target[0]))  # as `python SCRIPT` has it
        runpy.run_path(target[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
