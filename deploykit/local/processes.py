"""Start, watch and stop local processes that outlive the command that started them.

Each process has a pid file and a log file; a pid file whose process is gone (a crash, a
killed terminal) is stale and is cleaned up instead of blocking the next start. Processes run
in their own session so that stopping one stops its children and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from deploykit.errors import ProcessError

__all__ = ["Proc", "detach", "identity_options", "pid_alive", "reap_children", "tail"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class Proc:
    """A named process with its pid file and log file."""

    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The pid if the process is running; a stale pid file is removed."""
        reap_children()
        pid = self._recorded_pid()
        if pid is None:
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: tuple[int, int] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> int:
        """Start `argv` detached; `user` is (uid, gid) to run as, with no supplementary groups;
        `pass_fds` are inherited (every other descriptor is closed in the child)."""
        if (running := self.pid()) is not None:
            raise ProcessError(f"{self.name} is already running (pid {running})")
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            child = detach(argv, self.log_file, env=env, cwd=cwd, user=user, pass_fds=pass_fds)
        except OSError as exc:
            raise ProcessError(f"{self.name}: cannot run {argv[0]}: {exc}") from None
        self.pid_file.write_text(f"{child.pid}\n")
        _reap_later(child)
        pid: int = child.pid
        return pid

    def adopt(self, pid: int) -> None:
        """Record `pid`, started by another process (the services' launcher), as this one."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{pid}\n")

    def send(self, sig: int) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        return True

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """Send `sig` to the process group, then SIGKILL after `timeout`. True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_until(
        self, ready: Callable[[], bool], timeout: float, what: str = "ready", poll: float = 0.05
    ) -> None:
        """Poll `ready` until true; fail naming the process and its last log lines."""
        deadline = time.monotonic() + timeout
        started = self._recorded_pid()
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ProcessError(
                    f"{self.name} exited before it was {what}{_exit_note(started)}; "
                    f"last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(poll)
        raise ProcessError(
            f"{self.name} was not {what} after {timeout:.0f}s; last lines of {self.log_file}:\n"
            f"{tail(self.log_file)}"
        )


def detach(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: tuple[int, int] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """`argv` in a session of its own, stdin from /dev/null, stdout and stderr appended to
    `log`: it outlives the command that started it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
            pass_fds=pass_fds,
            **identity_options(user),
        )


class Identity(TypedDict, total=False):
    """The subprocess keywords that run a child as another user."""

    user: int
    group: int
    extra_groups: list[int]


def identity_options(user: tuple[int, int] | None) -> Identity:
    """subprocess keyword arguments to run as (uid, gid), dropping our supplementary groups
    (as root they include group 0, whose empty bits would then deny what "others" may do)."""
    if user is None:
        return {}
    uid, gid = user
    return {"user": uid, "group": gid, "extra_groups": []}


_children: list[subprocess.Popen[bytes]] = []
_exit_codes: dict[int, int] = {}


def _reap_later(child: subprocess.Popen[bytes]) -> None:
    reap_children()
    _children.append(child)


def reap_children() -> None:
    """Reap the children we started that have exited. A zombie still answers kill(pid, 0), so
    a server restarted in the same process (PostgreSQL checking its postmaster.pid) would take
    its dead predecessor for a live one."""
    for child in _children:
        if child.poll() is not None:
            _exit_codes[child.pid] = child.returncode
    _children[:] = [c for c in _children if c.returncode is None]


def _exit_note(pid: int | None) -> str:
    code = _exit_codes.get(pid) if pid is not None else None
    if code is None:
        return ""
    return f" (killed by signal {-code})" if code < 0 else f" (exit code {code})"
