"""The Python services of a local stack, forked from one process that imported the runtime once.

    python -m deploykit.local.launch COMMANDS REPLIES

Most of a Python service's start is its imports (the runtime, nats-py, OpenTelemetry, psycopg
and the metrics exporter when its settings use them: `Settings.imports`), a few tenths of a
CPU-second each. Started as one interpreter per service they are paid once per service, all
while the cluster settles, on the same cores. Instead `dev up` starts one launcher ahead of
the services' turn: it reads the services' specs from COMMANDS (a JSON line), imports what all
of them need, and then, for each name `dev up` writes to COMMANDS once that service's turn has
come, forks a child that becomes the service: its own session, log, working directory and
environment, `sys.argv` as `python -m MODULE` or `python SCRIPT` would set it. Its pid goes back
on REPLIES. The end of COMMANDS ends the launcher; the services it forked run on without it.

Only a service run by this very interpreter (`python -m MODULE ...`, `python SCRIPT ...`) whose
environment gives the interpreter nothing the launcher's lacks (`PYTHON*` variables) is forked;
any other starts as its own process at its turn.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from setproctitle import setproctitle, setthreadtitle

from deploykit.local.processes import detach

__all__ = ["Launcher", "Spec", "forkable", "main"]


@dataclass(frozen=True)
class Spec:
    """One service as the launcher forks it: `target` is what follows the interpreter
    (`-m MODULE ARG...` or `SCRIPT ARG...`)."""

    name: str
    target: list[str]
    env: dict[str, str]
    cwd: str
    log: str


def _interpreter_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def forkable(argv: Sequence[str], env: Mapping[str, str], base: Mapping[str, str]) -> bool:
    """`argv` runs a module or a script with this interpreter, no options, and `env` tells the
    interpreter (PYTHONPATH, PYTHONHASHSEED...) exactly what the launcher's `base` does: a
    child of the launcher then runs as that command would."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return False
    rest = list(argv[1:])
    runs = (rest[0] == "-m" and len(rest) > 1) or not rest[0].startswith("-")
    return runs and _interpreter_env(env) == _interpreter_env(base)


class Launcher:
    """`dev up`'s side: start the launcher with the specs, ask for each service at its turn."""

    def __init__(self, specs: Sequence[Spec], env: Mapping[str, str], cwd: Path, log: Path):
        self.names = {s.name for s in specs}
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        try:
            self._process = detach(
                [sys.executable, "-m", __name__, str(commands_read), str(replies_write)],
                log,
                env=env,
                cwd=cwd,
                pass_fds=(commands_read, replies_write),
            )
        finally:
            os.close(commands_read)
            os.close(replies_write)
        self._answers: IO[bytes] = os.fdopen(self._replies, "rb")
        self._send(json.dumps([asdict(s) for s in specs]))

    @property
    def ended(self) -> bool:
        return self._process.poll() is not None

    def _send(self, line: str) -> bool:
        data = memoryview(line.encode() + b"\n")
        try:
            while data:  # the specs may be longer than the pipe holds: the launcher reads on
                data = data[os.write(self._commands, data) :]
        except BrokenPipeError:  # the launcher died; what it did not fork starts on its own
            return False
        return True

    def go(self, name: str, timeout: float = 60.0) -> int | None:
        """Fork `name` now; its pid, or None if the launcher could not (it died, or did not
        answer within `timeout`: its log says why), and the caller starts the service as its
        own process."""
        self.names.discard(name)
        if self.ended or not self._send(name):
            return None
        # the answer comes at once, or when the launcher's imports are done
        if select.select([self._replies], [], [], timeout)[0]:
            answer = self._answers.readline().split()
            if len(answer) == 2 and answer[0] == name.encode():
                return int(answer[1])
        self._end(signal.SIGKILL)  # it must not fork the service the caller now starts itself
        return None

    def _end(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(sig)
        self._process.wait()

    def close(self, timeout: float = 30.0) -> None:
        """No more services: the launcher ends, and what it did not fork never runs (one still
        busy after `timeout` is killed)."""
        with contextlib.suppress(OSError):
            os.close(self._commands)
        self._answers.close()
        try:  # it reads the end of its commands once its imports are done
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._end(signal.SIGKILL)


def main(args: Sequence[str]) -> int:
    spec = _serve(int(args[0]), int(args[1]))
    if spec is None:
        return 0
    if spec.target[0] == "-m":
        sys.argv = [spec.target[1], *spec.target[2:]]
        sys.path[0] = os.getcwd()  # as `python -m` has it
        runpy.run_module(spec.target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(spec.target)
        sys.path[0] = os.path.dirname(os.path.abspath(spec.target[0]))  # as `python SCRIPT`
        runpy.run_path(spec.target[0], run_name="__main__")
    return 0


def _serve(commands_fd: int, replies_fd: int) -> Spec | None:
    """The launcher's loop: None when `dev up` is done; in a forked child, the child's spec."""
    gc.disable()  # imports make many objects and no garbage; frozen below, shared by the forks
    with os.fdopen(commands_fd, "rb") as commands, os.fdopen(replies_fd, "wb", 0) as replies:
        specs = {s["name"]: Spec(**s) for s in json.loads(commands.readline() or b"[]")}
        _import_for(specs.values())
        gc.freeze()
        gc.enable()
        for line in commands:
            spec = specs[line.decode().strip()]
            pid = os.fork()
            if pid == 0:
                _become(spec)
                return spec
            replies.write(f"{spec.name} {pid}\n".encode())
    return None


def _import_for(specs: Iterable[Spec]) -> None:
    """The runtime and whatever the services' settings make it import when they start."""
    from deploykit.runtime import ConfigError, Settings

    needed: dict[str, None] = {}
    for spec in specs:
        with contextlib.suppress(ConfigError):  # the service says so itself once it runs
            needed |= dict.fromkeys(Settings.from_env(spec.env).imports())
    for name in needed:
        importlib.import_module(name)


def _become(spec: Spec) -> None:
    """In the forked child: the service's own session, log, directory and environment."""
    os.setsid()
    log = os.open(spec.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    # what `ps` shows: its command, and `top` its name (set first: setproctitle finds argv's
    # memory from the environment's)
    setproctitle(shlex.join([sys.executable, *spec.target]))
    setthreadtitle(spec.name)
    os.chdir(spec.cwd)
    os.environ.clear()
    os.environ.update(spec.env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
