"""The options every command spells the same way: the manifest, the target, the output file."""

from __future__ import annotations

from pathlib import Path

import typer

from deploykit.errors import ConfigError
from deploykit.manifest.load import DEFAULT_MANIFEST

__all__ = [
    "FILE",
    "FILE_ARGUMENT",
    "FILE_OPTION",
    "OUTPUT",
    "OUTPUTS",
    "STACK",
    "TARGET_HELP",
    "manifest",
    "write_output",
]

FILE = typer.Option(Path(DEFAULT_MANIFEST), "--file", "-f", help="The manifest.")
# validate, lint and render also take the manifest as their one argument, as they always did
FILE_ARGUMENT = typer.Argument(
    None, help="The manifest (like -f).", show_default=False, metavar="[FILE]"
)
FILE_OPTION = typer.Option(
    None, "--file", "-f", help=f"The manifest (default: {DEFAULT_MANIFEST})."
)
STACK = typer.Option(
    None,
    "--stack",
    help="A Pulumi stack: read its outputs with the Pulumi CLI, in the manifest's folder.",
)
OUTPUT = typer.Option(None, "-o", "--output", help="Write to FILE instead of standard output.")
OUTPUTS = typer.Option(
    None, "--outputs", help="A stack outputs JSON file (default: the local stack's)."
)

TARGET_HELP = """\b
A target is one of
  --stack NAME     a Pulumi stack's outputs (`pulumi stack output`)
  --outputs FILE   a stack outputs JSON file
  (neither)        the local stack: .deploykit/outputs.json"""


def manifest(argument: Path | None, option: Path | None) -> Path:
    """The manifest named by FILE or -f (once), else deploykit.yaml here."""
    if argument is not None and option is not None and argument != option:
        raise ConfigError(f"name the manifest once: {argument} or -f {option}, not both")
    return argument or option or Path(DEFAULT_MANIFEST)


def write_output(text: str, output: Path | None) -> None:
    """`text` to the -o FILE, or to standard output without one."""
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {output}: cannot write: {exc.strerror}") from None
