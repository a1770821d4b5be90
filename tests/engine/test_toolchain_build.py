"""The Go build of the toolchain, for real: a version the module proxy refuses fails naming the
module and the proxy's answer, and leaves no half-made version folder behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploykit.toolchain.cache import missing, pulumi_dir
from deploykit.toolchain.gobuild import BuildError, build_cli


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed")
def test_a_refused_module_fails_the_build_naming_it(tmp_path: Path) -> None:
    refused = "v3.265.0"  # the proxy answers 403 Forbidden for pkg/v3 v3.265 to v3.272
    lines: list[str] = []
    with pytest.raises(BuildError) as failed:
        build_cli(tmp_path, refused, lines.append)
    message = str(failed.value)
    assert message.startswith(
        "building the Pulumi CLI from Go modules failed: `go get` of "
        "github.com/pulumi/pulumi/pkg/v3@v3.265.0: "
    )
    assert "403 Forbidden" in message
    assert lines[0] == "go get github.com/pulumi/pulumi/pkg/v3@v3.265.0 (0s)"
    print(message)
    assert not pulumi_dir(tmp_path, refused).exists()
    assert not pulumi_dir(tmp_path, refused).with_name(f"{refused}.partial").exists()
    assert missing(pulumi_dir(tmp_path, refused) / "bin") != []
