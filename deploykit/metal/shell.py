"""The shell vocabulary of every script the metal tier runs on a host.

Scripts are plain bash text built here and run by `as_root` over SSH; secrets never appear in
them, they arrive on stdin. Each piece is idempotent, so re-running a step is always safe.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

__all__ = [
    "as_root",
    "ensure_packages",
    "http_ok",
    "install_release",
    "put_file",
    "q",
    "script",
    "system_user",
    "wait_until",
]

q = shlex.quote


def script(*parts: str) -> str:
    """Join script fragments, one per line (each fragment may span lines)."""
    return "\n".join(part for part in parts if part) + "\n"


def as_root(body: str, ssh_user: str) -> str:
    """The command line that runs `body` with bash as root: directly, or through `sudo -n`."""
    runner = "bash" if ssh_user == "root" else "sudo -n bash"
    return f"{runner} -euo pipefail -c {q(body)}"


def put_file(
    path: str,
    *,
    mode: str = "0644",
    owner: str = "root",
    group: str = "root",
    check: str = "",
) -> str:
    """Write stdin to `path`: through a temporary file that `check` (a command with `{file}` in
    it) must accept first, so a broken file never replaces a working one."""
    return script(
        'tmp="$(mktemp)"',
        "trap 'rm -f \"$tmp\"' EXIT",
        'cat > "$tmp"',
        f'chgrp {group} "$tmp" && chmod {mode} "$tmp"' if check else "",
        check.replace("{file}", '"$tmp"'),
        f'install -D -o {owner} -g {group} -m {mode} "$tmp" {q(path)}',
    ).rstrip("\n")


def wait_until(test: str, timeout: int, what: str) -> str:
    """Poll `test` every second until it succeeds; fail after `timeout` seconds saying `what`."""
    message = q(f"{what} after {timeout}s")
    return (
        f"deadline=$(( $(date +%s) + {timeout} ))\n"
        f"until {test}; do\n"
        f'  if [ "$(date +%s)" -ge "$deadline" ]; then echo {message} >&2; exit 1; fi\n'
        "  sleep 1\n"
        "done"
    )


def http_ok(url: str) -> str:
    """A test that succeeds when `url` answers 2xx within 2 seconds."""
    return f"curl -fsS -m 2 -o /dev/null {q(url)}"


def ensure_packages(packages: Iterable[str]) -> str:
    names = " ".join(sorted(set(packages)))
    return (
        f"dpkg -s {names} >/dev/null 2>&1 || {{ apt-get update -q && "
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {names}; }}"
    )


def system_user(name: str, home: str) -> str:
    return (
        f"id -u {name} >/dev/null 2>&1 || "
        f"useradd --system --home-dir {home} --shell /usr/sbin/nologin {name}"
    )


def install_release(base: str, asset: str, sums: str, binaries: dict[str, str]) -> str:
    """Download `base/asset.tar.gz`, check it against the release's checksum file `sums`, and
    install each named binary of the archive (`name → target path`)."""
    return script(
        'tmp="$(mktemp -d)"',
        "trap 'rm -rf \"$tmp\"' EXIT",
        f'asset="{asset}"',
        f'curl -fsSL -o "$tmp/$asset.tar.gz" "{base}/$asset.tar.gz"',
        f'curl -fsSL -o "$tmp/sums" "{base}/{sums}"',
        '(cd "$tmp" && grep " $asset.tar.gz$" sums | sha256sum -c --quiet -)',
        'tar -xzf "$tmp/$asset.tar.gz" -C "$tmp"',
        *(
            f'install -m 0755 "$(find "$tmp" -type f -name {name} | head -n 1)" {target}'
            for name, target in binaries.items()
        ),
    ).rstrip("\n")
