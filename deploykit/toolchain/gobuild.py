"""Build the Pulumi CLI from Go modules, as the vendor's release does, into the cache.

`go install pkg@v` is refused for the CLI (pkg/go.mod has replace directives), so the build
goes through a wrapper module whose `tools.go` imports the CLI's main package. The plugin
scripts the CLI ships beside itself come from the `sdk/v3` module of the same version:
`pulumi-resource-pulumi-python` (hosts Python dynamic providers) and
`pulumi-language-python-exec`. The Python language host itself cannot be built here (see
`ensure.UNAVAILABLE`), so programs run inline through the Automation API.

A first build downloads about 290 modules and compiles for several minutes; a line of
progress is reported every `PROGRESS_EVERY` seconds, and a failure names the module and the
first error line of its output.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploykit.errors import DeploykitError
from deploykit.toolchain.cache import bin_dir, build_dir, missing, pulumi_dir

__all__ = [
    "CLI_MODULE",
    "SDK_MODULE",
    "SDK_SCRIPTS",
    "BuildError",
    "Step",
    "build_cli",
    "build_steps",
    "first_error",
]

CLI_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
CLI_PACKAGE = f"{CLI_MODULE}/cmd/pulumi"
VERSION_VAR = f"{SDK_MODULE}/go/common/version.Version"
WRAPPER_MODULE = "deploykit.local/pulumicli"
TOOLS_GO = f'//go:build tools\n\npackage tools\n\nimport _ "{CLI_PACKAGE}"\n'
SDK_SCRIPTS = {
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
}
PROGRESS_EVERY = 30.0
_CHATTER = ("go: downloading ", "go: finding ", "go: added ", "go: upgraded ", "go: found ", "# ")


class BuildError(DeploykitError):
    """A Go build of the toolchain failed; the message names the module and the first error."""


@dataclass(frozen=True)
class Step:
    """One command of the build: what it does, for which module, and its exact argv."""

    what: str
    module: str
    argv: tuple[str, ...]


def build_steps(cli: str, out: Path) -> list[Step]:
    """The build's commands for CLI tag `cli` (`v3.260.0`), writing the binary to `out`."""
    cli_at = f"{CLI_MODULE}@{cli}"
    flags = ("-tags", "osusergo,grpcnotrace", "-ldflags", f"-X {VERSION_VAR}={cli}")
    return [
        Step("go get", cli_at, ("go", "get", cli_at, f"{SDK_MODULE}@{cli}")),
        Step("go mod tidy", cli_at, ("go", "mod", "tidy")),
        Step(
            "go build",
            cli_at,
            ("go", "build", *flags, "-o", str(out), CLI_PACKAGE),
        ),
    ]


def first_error(output: str) -> str:
    """The first line of Go's output that is not progress chatter (or a note that there is none)."""
    for line in output.splitlines():
        text = line.strip()
        if text and not text.startswith(_CHATTER):
            return text
    return "no error message (see the log)"


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class _Runner:
    """Runs build steps in the wrapper module, their output appended to one log."""

    cwd: Path
    log: Path
    report: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> str:
        return _elapsed(time.monotonic() - self.started)

    def run(self, step: Step) -> str:
        """The step's output; BuildError naming its module and first error line if it fails."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as sink:
            sink.write(f"$ {' '.join(step.argv)}\n".encode())
            sink.flush()
            env = {**os.environ, "GOWORK": "off"}  # the wrapper module alone
            proc = subprocess.Popen(
                step.argv, cwd=self.cwd, stdout=sink, stderr=subprocess.STDOUT, env=env
            )
            while True:
                try:
                    code = proc.wait(timeout=PROGRESS_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    self.report(f"still building: {step.what} {step.module} ({self.elapsed()})")
        with self.log.open("rb") as source:
            source.seek(offset)
            output = source.read().decode(errors="replace").split("\n", 1)[-1]
        if code != 0:
            raise BuildError(
                f"building the Pulumi CLI from Go modules failed: `{step.what}` of "
                f"{step.module}: {first_error(output)} (the whole log: {self.log})"
            )
        return output


def _build(runner: _Runner, cli: str, bin_path: Path) -> None:
    """The wrapper module, the CLI compiled into `bin_path`, the plugin scripts beside it."""
    if not (runner.cwd / "go.mod").exists():
        runner.run(Step("go mod init", WRAPPER_MODULE, ("go", "mod", "init", WRAPPER_MODULE)))
    (runner.cwd / "tools.go").write_text(TOOLS_GO)
    for step in build_steps(cli, bin_path / "pulumi"):
        runner.report(f"{step.what} {step.module} ({runner.elapsed()})")
        runner.run(step)
    where = runner.run(
        Step("go list", SDK_MODULE, ("go", "list", "-m", "-f", "{{.Dir}}", SDK_MODULE))
    )
    sdk = Path(where.strip().splitlines()[-1])
    for name, inside in SDK_SCRIPTS.items():
        shutil.copyfile(sdk / inside, bin_path / name)
        (bin_path / name).chmod(0o755)  # the module cache's files are read-only


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One build of a version at a time on this machine (two CI runs may start together)."""
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cli(root: Path, cli: str, report: Callable[[str], None]) -> Path:
    """Build CLI tag `cli` into `root`'s cache; the bin folder. Needs `go` on PATH.

    The version's folder is made beside the final one and renamed into place when whole, so
    an interrupted or failed build never looks cached.
    """
    work = build_dir(root, cli)
    work.mkdir(parents=True, exist_ok=True)
    with _exclusive(work / "build.lock"):
        if not missing(bin_dir(root, cli)):
            report(f"the Pulumi CLI {cli} was built meanwhile by another run")
            return bin_dir(root, cli)
        runner = _Runner(work, work / "build.log", report)
        runner.log.write_text("")
        final = pulumi_dir(root, cli)
        staging = final.with_name(f"{final.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        try:
            _build(runner, cli, staging / "bin")
        except BuildError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    report(f"built the Pulumi CLI {cli} in {runner.elapsed()}: {bin_dir(root, cli)}")
    return bin_dir(root, cli)
