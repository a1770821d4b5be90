"""The artifact catalogue, index and install snippets: exact output, and the snippets run for
real with bash on this machine (checksums refused, a second run changes nothing, a mirror
served on loopback)."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from deploykit.errors import ConfigError
from deploykit.metal.artifacts import (
    Artifact,
    ArtifactIndex,
    IndexEntry,
    catalogue,
    install_snippet,
    parse_index,
    require,
)
from deploykit.stack.config import parse_stack_config

SHA = "a" * 64


def test_catalogue_follows_the_distribution() -> None:
    items = catalogue("bookworm")
    assert items["postgresql"].packages == ("postgresql-15",)
    assert catalogue("bookworm", postgres="16")["postgresql"].packages == ("postgresql-16",)
    assert items["nats-server"].target == "/usr/local/bin/nats-server"
    unavailable = sorted(n for n, a in items.items() if a.kind == "unavailable")
    assert unavailable == ["grafana", "k3s", "prometheus-official"]
    assert all(items[n].why for n in unavailable)
    with pytest.raises(ConfigError, match="no PostgreSQL version known for Debian 'sid'"):
        catalogue("sid")


def test_a_bad_index_names_the_file_and_the_field() -> None:
    text = json.dumps(
        {
            "suite": "bookworm",
            "architecture": "amd64",
            "artifacts": {
                "nats-server": {"version": "1", "files": [{"path": "bin/x", "sha256": "no"}]}
            },
        }
    )
    with pytest.raises(ConfigError) as error:
        parse_index(text, "art/artifacts.json")
    assert "art/artifacts.json: artifacts.nats-server.files.0.sha256:" in str(error.value)
    with pytest.raises(ConfigError, match=r"art/artifacts\.json: not JSON"):
        parse_index("{", "art/artifacts.json")
    path = {"path": "../etc/passwd", "sha256": SHA}
    bad = {"suite": "bookworm", "architecture": "amd64"}
    bad["artifacts"] = {"x": {"version": "1", "files": [path]}}  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"artifacts\.x\.files\.0\.path"):
        parse_index(json.dumps(bad), "i")


def test_require_says_what_is_missing_and_why() -> None:
    index = ArtifactIndex(
        suite="bookworm",
        architecture="amd64",
        artifacts={"nats-server": _entry("bin/nats-server-2.15.1")},
        missing={"prometheus-nats-exporter": "go install ... 403 Forbidden"},
    )
    assert list(require(index, ["nats-server"], "art")) == ["nats-server"]
    with pytest.raises(ConfigError) as error:
        require(index, ["nats-server", "prometheus-nats-exporter", "k3s"], "art")
    message = str(error.value)
    assert (
        "art: artifacts.prometheus-nats-exporter: missing (go install ... 403 Forbidden)" in message
    )
    assert "art: artifacts.k3s: missing (k3s is released only on GitHub" in message


def test_binary_snippet_exact() -> None:
    artifact = Artifact("tool", "binary", "test", target="/usr/local/bin/tool")
    assert install_snippet(artifact, _entry("bin/tool-1")) == (
        "dir=/var/cache/deploykit/artifacts\n"
        "(cd \"$dir\" && sha256sum -c --quiet -) <<'SHA256SUMS'\n"
        f"{SHA}  bin/tool-1\n"
        "SHA256SUMS\n"
        'cmp -s "$dir/bin/tool-1" /usr/local/bin/tool || '
        'install -m 0755 "$dir/bin/tool-1" /usr/local/bin/tool'
    )


def test_debs_snippet_installs_only_what_is_lacking_from_the_files_alone() -> None:
    entry = IndexEntry(
        version="15",
        files=[
            {"path": "debs/a_1_amd64.deb", "sha256": SHA, "package": "a", "version": "1"},
            {"path": "debs/b_1%3a2_all.deb", "sha256": SHA, "package": "b", "version": "1:2"},
        ],
    )
    snippet = install_snippet(catalogue()["postgresql"], entry)
    assert "a 1 debs/a_1_amd64.deb\nb 1:2 debs/b_1%3a2_all.deb\nPACKAGES" in snippet
    assert 'dpkg --compare-versions "${have##* }" ge "$ver"' in snippet
    assert "--no-download" in snippet and "-o Dir::Etc::SourceList=/dev/null" in snippet
    with pytest.raises(ConfigError, match="grafana cannot be installed here"):
        install_snippet(catalogue()["grafana"], entry)


def test_binary_snippet_runs_verifies_and_is_idempotent(tmp_path: Path) -> None:
    folder, target = _folder(tmp_path, b"#!/bin/sh\necho v1\n")
    artifact = Artifact("tool", "binary", "test", target=str(target))
    entry = _entry("bin/tool-1", _sha(b"#!/bin/sh\necho v1\n"))
    _bash(install_snippet(artifact, entry, folder=str(folder)))
    assert subprocess.run([target], capture_output=True, text=True).stdout == "v1\n"
    installed = target.stat().st_mtime_ns
    _bash(install_snippet(artifact, entry, folder=str(folder)))
    assert target.stat().st_mtime_ns == installed, "an unchanged binary must not be rewritten"
    (folder / "bin/tool-1").write_bytes(b"#!/bin/sh\necho evil\n")
    failed = _bash(install_snippet(artifact, entry, folder=str(folder)), check=False)
    assert failed.returncode != 0 and "did NOT match" in failed.stderr
    assert subprocess.run([target], capture_output=True, text=True).stdout == "v1\n"


def test_mirror_snippet_downloads_verifies_and_refuses_a_corrupt_file(
    tmp_path: Path, mirror: tuple[str, Path]
) -> None:
    url, served = mirror
    (served / "bin").mkdir()
    (served / "bin/tool-1").write_bytes(b"#!/bin/sh\necho mirrored\n")
    host = tmp_path / "host"
    target = tmp_path / "tool"
    artifact = Artifact("tool", "binary", "test", target=str(target))
    entry = _entry("bin/tool-1", _sha(b"#!/bin/sh\necho mirrored\n"))
    _bash(install_snippet(artifact, entry, mirror=url + "/", folder=str(host)))
    assert subprocess.run([target], capture_output=True, text=True).stdout == "mirrored\n"
    (served / "bin/tool-1").write_bytes(b"#!/bin/sh\necho tampered\n")
    (host / "bin/tool-1").unlink()
    failed = _bash(install_snippet(artifact, entry, mirror=url, folder=str(host)), check=False)
    assert failed.returncode != 0
    assert subprocess.run([target], capture_output=True, text=True).stdout == "mirrored\n"


def test_stack_setting_takes_one_place() -> None:
    base = {"deploykit:tier": "metal"}
    hosts = [{"name": "a", "address": "10.0.0.1", "roles": ["nats", "database", "monitoring"]}]
    metal = {"hosts": hosts, "kubernetes": {"existingKubeconfig": True}}
    ok = parse_stack_config(
        {**base, "deploykit:metal": {**metal, "artifacts": {"files": "art"}}}, "s"
    )
    assert ok.metal is not None and ok.metal.artifacts.source == "files"
    for artifacts, message in (
        ({"files": "art", "mirror": "http://m"}, "give mirror or files, not both"),
        ({"mirror": "ftp://m"}, "expected an http:// or https:// URL"),
        ({"mirrors": "http://m"}, "deploykit:metal.artifacts.mirrors: Extra inputs"),
    ):
        with pytest.raises(ConfigError, match=message) as error:
            parse_stack_config({**base, "deploykit:metal": {**metal, "artifacts": artifacts}}, "s")
        assert "s: deploykit:metal.artifacts" in str(error.value)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on loopback serving a folder, as a user's mirror would."""
    served = tmp_path / "mirror"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def _folder(tmp_path: Path, content: bytes) -> tuple[Path, Path]:
    folder = tmp_path / "artifacts"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin/tool-1").write_bytes(content)
    return folder, tmp_path / "tool"


def _entry(path: str, sha: str = SHA) -> IndexEntry:
    return IndexEntry(version="1", files=[{"path": path, "sha256": sha}])


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _bash(text: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "--norc", "-euo", "pipefail", "-s"], input=text, capture_output=True, text=True
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done
