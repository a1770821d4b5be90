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

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploykit.errors import DeploykitError
from deploykit.toolchain.cache import bin_dir, build_dir, pulumi_dir

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


def _run(step: Step, cwd: Path, log: Path, started: float, report: Callable[[str], None]) -> str:
    """Run one step, its output appended to `log`; its output, or BuildError naming the module."""
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as sink:
        sink.write(f"$ {' '.join(step.argv)}\n".encode())
        sink.flush()
        env = {**os.environ, "GOWORK": "off"}  # the wrapper module alone, whatever the caller's cwd
        proc = subprocess.Popen(step.argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=env)
        while True:
            try:
                code = proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                report(
                    f"still building: {step.what} {step.module} ({_elapsed(time.monotonic() - started)})"
                )
    with log.open("rb") as source:
        source.seek(offset)
        output = source.read().decode(errors="replace").split("\n", 1)[-1]
    if code != 0:
        raise BuildError(
            f"building the Pulumi CLI from Go modules failed: `{step.what}` of {step.module}: "
            f"{first_error(output)} (the whole log: {log})"
        )
    return output


def _module_dir(
    module: str, cwd: Path, log: Path, started: float, report: Callable[[str], None]
) -> Path:
    step = Step("go list", module, ("go", "list", "-m", "-f", "{{.Dir}}", module))
    return Path(_run(step, cwd, log, started, report).strip().splitlines()[-1])


def build_cli(root: Path, cli: str, report: Callable[[str], None]) -> Path:
    """Build CLI tag `cli` into `root`'s cache; the bin folder. Needs `go` on PATH."""
    started = time.monotonic()
    work = build_dir(root, cli)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text("")
    final = pulumi_dir(root, cli)
    staging = final.with_name(f"{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    if not (work / "go.mod").exists():
        _run(
            Step("go mod init", WRAPPER_MODULE, ("go", "mod", "init", WRAPPER_MODULE)),
            work,
            log,
            started,
            report,
        )
    (work / "tools.go").write_text(TOOLS_GO)
    for step in build_steps(cli, staging / "bin" / "pulumi"):
        report(f"{step.what} {step.module} ({_elapsed(time.monotonic() - started)})")
        _run(step, work, log, started, report)
    sdk = _module_dir(SDK_MODULE, work, log, started, report)
    for name, inside in SDK_SCRIPTS.items():
        target = staging / "bin" / name
        shutil.copyfile(sdk / inside, target)
        target.chmod(0o755)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    report(
        f"built the Pulumi CLI {cli} in {_elapsed(time.monotonic() - started)}: {bin_dir(root, cli)}"
    )
    return bin_dir(root, cli)
