"""A hermetic Pulumi engine for tests and benchmarks: the real CLI, a file backend, no network.

    with pulumi_engine(tmp_path) as engine:             # the CLI scripts/bootstrap got or built
        stack = engine.stack("dev", program)             # an inline program: a callable
        stack.set_config("nats:url", url)
        stack.set_config("token", token, secret=True)    # `pulumi config set --secret`
        stack.up()                                       # Automation API results
        stack.expect_no_changes()                        # `pulumi up --expect-no-changes`
        assert token not in stack.state_text()           # the raw checkpoint, to grep
        stack.cli("stack", "output", "--json", "--show-secrets")   # the real CLI, same env

Programs run inline (the Automation API's runtime `client`), so no Python language host is
needed; dynamic providers still run as the engine runs them, in `pulumi-resource-pulumi-python`
processes started by the CLI, after a dill round trip. The environment is the one any command
the test runs must see too (`Engine.env`): a file backend in the engine's folder, a passphrase
secrets provider, its own PULUMI_HOME, no update checks, no plugin downloads, PATH with the
CLI's folder and this Python's bin first, and PYTHONPATH this process's import path.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pulumi import automation as auto

from deploykit.toolchain.ensure import EngineUnavailable, Toolchain, ensure

__all__ = ["PROJECT", "Engine", "EngineStack", "EngineUnavailable", "engine_env", "pulumi_engine"]

PROJECT = "deploykit"  # the repository's project name, so `--stack NAME` resolves in its folder


def engine_env(toolchain: Toolchain, folder: Path, passphrase: str) -> dict[str, str]:
    """The variables that make the CLI hermetic (all of them, for any process that runs it)."""
    path = [str(toolchain.bin), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    return {
        "PULUMI_BACKEND_URL": (folder / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_HOME": str(folder / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "PATH": os.pathsep.join(path),
        # dill pickles a provider class by reference to its module: the provider process must
        # import what this process imported (in `pulumi up`, the project folder is on its path)
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }


_LEFTOVERS = frozenset({"run_pulumi_func", "run_in_stack"})  # the SDK's coroutines
P = ParamSpec("P")
R = TypeVar("R")


def _drop_program_leftovers() -> None:
    """Collect the inline program's leftover now, and drop the one error it raises.

    When an Automation API operation ends, the program's `run_pulumi_func` coroutine is left
    unfinished with its event loop closed; collected at some later moment, its finalizer raises
    "no running event loop". Collected inside an `ast.parse` (pytest formatting a report), the
    report of that error parses source again and CPython 3.11 fails with "SystemError: AST
    constructor recursion depth mismatch". Collected here, at a safe point, it is harmless.
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if getattr(unraisable.object, "__qualname__", "") not in _LEFTOVERS:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        gc.collect()
    finally:
        sys.unraisablehook = previous


def _operation(method: Callable[P, R]) -> Callable[P, R]:
    @wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        finally:
            _drop_program_leftovers()

    return run


@dataclass
class EngineStack:
    """One stack of an inline program; each operation returns the Automation API's result."""

    stack: auto.Stack
    engine: Engine

    @property
    def name(self) -> str:
        return self.stack.name

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        self.stack.set_config(key, auto.ConfigValue(value, secret=secret))

    @_operation
    def preview(self, **options: Any) -> auto.PreviewResult:
        return self.stack.preview(**options)

    @_operation
    def up(self, **options: Any) -> auto.UpResult:
        return self.stack.up(**options)

    @_operation
    def expect_no_changes(self, **options: Any) -> auto.UpResult:
        """`pulumi up --expect-no-changes`: raises `auto.CommandError` if anything would change."""
        return self.stack.up(expect_no_changes=True, **options)

    @_operation
    def refresh(self, **options: Any) -> auto.RefreshResult:
        return self.stack.refresh(**options)

    @_operation
    def destroy(self, **options: Any) -> auto.DestroyResult:
        return self.stack.destroy(**options)

    @_operation
    def import_resources(
        self, resources: list[auto.ImportResource], **options: Any
    ) -> auto.ImportResult:
        """`pulumi import`, for providers with a plugin. Dynamic resources cannot be imported
        (Pulumi's dynamic-provider plugin reads the provider from the state, which an import
        does not have: `KeyError: '__provider'`); `components/jetstream.py` adopts instead."""
        return self.stack.import_resources(resources=resources, **options)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs, secrets revealed."""
        return {k: v.value for k, v in self.stack.outputs().items()}

    def state_file(self) -> Path:
        return self.engine.state_dir / ".pulumi" / "stacks" / PROJECT / f"{self.name}.json"

    def state_text(self) -> str:
        """The raw checkpoint as stored by the backend: grep it for secrets."""
        return self.state_file().read_text(encoding="utf-8")

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_text())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real `pulumi ARGS --stack NAME`, in the project's folder and the engine's env."""
        return self.engine.cli(*args, "--stack", self.name, check=check)


@dataclass
class Engine:
    """A folder with a file backend and a PULUMI_HOME, and the environment pointing at them."""

    toolchain: Toolchain
    folder: Path
    env: dict[str, str]

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def project_dir(self) -> Path:
        return self.folder / "project"

    def stack(
        self,
        name: str,
        program: Callable[[], None],
        *,
        config: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> EngineStack:
        """Create (or select) stack `name` of the inline `program`, with its config set."""
        options = auto.LocalWorkspaceOptions(
            work_dir=str(self.project_dir),
            env_vars=self.env,
            pulumi_command=auto.PulumiCommand(
                root=str(self.toolchain.root), skip_version_check=True
            ),
            project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
            secrets_provider="passphrase",
        )
        stack = EngineStack(
            auto.create_or_select_stack(
                stack_name=name, project_name=PROJECT, program=program, opts=options
            ),
            self,
        )
        for key, value in (config or {}).items():
            stack.set_config(key, value)
        for key, value in (secrets or {}).items():
            stack.set_config(key, value, secret=True)
        return stack

    def cli(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `pulumi ARGS` in this engine's environment (default: the project folder)."""
        done = subprocess.run(
            [str(self.toolchain.pulumi), *args],
            cwd=cwd or self.project_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({done.returncode}): {done.stderr}"
            )
        return done

    def run(
        self, argv: list[str], *, cwd: Path | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Any command (e.g. `deploykit smoke --stack NAME`) with this engine's environment."""
        return subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextmanager
def pulumi_engine(
    folder: Path,
    toolchain: Toolchain | None = None,
    report: Callable[[str], None] = lambda _: None,
) -> Iterator[Engine]:
    """A hermetic engine in `folder` (which the caller owns and removes).

    Without `toolchain`, the pinned CLI is located, downloaded or built (`ensure`); raises
    `EngineUnavailable` when it cannot be had on this machine.
    """
    toolchain = toolchain or ensure(report)
    for sub in ("state", "home", "project"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    yield Engine(toolchain, folder, engine_env(toolchain, folder, secrets.token_hex(16)))
