"""The shell vocabulary of every script the metal tier runs on a host.

Scripts are plain bash text built here and run by `as_root` over SSH; secrets never appear in
them, they arrive on stdin. Each piece is idempotent, so re-running a step is always safe, and
a file is only replaced when its content differs, so a service restarts only when something it
reads changed: `put_file(..., pending=unit)` leaves a mark that `restart_if_pending` consumes.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

__all__ = [
    "APT",
    "PACKAGES_DIR",
    "PENDING_DIR",
    "as_root",
    "ensure_packages",
    "http_ok",
    "install_release",
    "put_file",
    "q",
    "recording_packages",
    "remove_packages",
    "remove_paths",
    "remove_units",
    "restart_if_pending",
    "script",
    "system_user",
    "wait_until",
    "when_changed",
]

PENDING_DIR = "/var/lib/deploykit/pending"
PACKAGES_DIR = "/var/lib/deploykit/packages"
# Steps run in parallel, several on one host; dpkg takes one at a time: the rest of a step that
# installs or removes packages waits for this lock (held until its script ends).
# The lock is dpkg's own folder (flock on a directory creates nothing; dpkg's and apt's own locks
# are fcntl locks, independent of it).
PACKAGES_LOCK = "exec 9</var/lib/dpkg && flock 9"
# apt-get itself waits for dpkg's lock (Debian's own apt-daily jobs take it after a boot)
# instead of failing at once; a deadline, not forever.
APT = "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300"

q = shlex.quote


def script(*parts: str) -> str:
    """Join script fragments, one per line (each fragment may span lines)."""
    return "\n".join(part.rstrip("\n") for part in parts if part) + "\n"


def as_root(body: str, ssh_user: str) -> str:
    """The command line that runs `body` with bash as root: directly, or through `sudo -n`.

    `--norc --noprofile`: Debian's /etc/bash.bashrc reads PS1, which `-u` turns into an error
    on every step; `cd /`: tools run as other users (`runuser -u postgres`) cannot enter
    /root, the SSH session's directory."""
    runner = "bash" if ssh_user == "root" else "sudo -n bash"
    return f"{runner} --norc --noprofile -euo pipefail -c {q('cd /' + chr(10) + body)}"


def put_file(
    path: str,
    *,
    mode: str = "0644",
    owner: str = "root",
    group: str = "root",
    check: str = "",
    pending: str = "",
) -> str:
    """Write stdin to `path`: through a temporary file that `check` (a command with `{file}` in
    it) must accept first, so a broken file never replaces a working one. An identical file is
    left alone (its mode and owner still set); a replaced one marks `pending` (a unit) for
    `restart_if_pending`."""
    mark = f" && install -D -m 0644 /dev/null {PENDING_DIR}/{pending}" if pending else ""
    return script(
        'tmp="$(mktemp)"',
        "trap 'rm -f \"$tmp\"' EXIT",
        'cat > "$tmp"',
        f'chgrp {group} "$tmp" && chmod {mode} "$tmp"' if check else "",
        check.replace("{file}", '"$tmp"'),
        f'if ! cmp -s "$tmp" {q(path)}; then '
        f'install -D -o {owner} -g {group} -m {mode} "$tmp" {q(path)}{mark}; '
        f"else chown {owner}:{group} {q(path)} && chmod {mode} {q(path)}; fi",
    ).rstrip("\n")


def restart_if_pending(unit: str, *, reload: bool = False) -> str:
    """Start `unit` if it is not running; restart (or reload) it only when a file it reads was
    replaced since it last started."""
    again = f"systemctl {'reload' if reload else 'restart'} {unit}"
    return script(
        "systemctl daemon-reload",
        f"systemctl enable --quiet {unit}",
        f"if ! systemctl is-active --quiet {unit}; then systemctl start {unit}",
        f"elif [ -e {PENDING_DIR}/{unit} ]; then {again}",
        "fi",
        f"rm -f {PENDING_DIR}/{unit}",
    )


def remove_units(*units: str) -> str:
    """Stop and disable units, remove their files (and drop-ins), forget their pending marks."""
    names = " ".join(units)
    files = " ".join(q(f"/etc/systemd/system/{u}") for u in units)
    drop_ins = " ".join(q(f"/etc/systemd/system/{u}.d") for u in units)
    marks = " ".join(q(f"{PENDING_DIR}/{u}") for u in units)
    return script(
        f"systemctl disable --now {names} >/dev/null 2>&1 || true",
        f"rm -rf {files} {drop_ins} {marks}",
        "systemctl daemon-reload",
        f"systemctl reset-failed {names} >/dev/null 2>&1 || true",
    )


def remove_paths(*paths: str) -> str:
    """Remove files and folders (absent ones are fine)."""
    return f"rm -rf {' '.join(q(p) for p in paths)}"


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


def ensure_packages(packages: Iterable[str], record: str = "") -> str:
    """Install the missing ones of `packages`; with `record`, note the ones this installed, so
    that `remove_packages(record)` removes exactly those and nothing the host had before."""
    names = " ".join(sorted(set(packages)))
    install = (
        f"dpkg -s {names} >/dev/null 2>&1 || {{ apt-get update -q && "
        f"{APT} install -y -q {names}; }}"
    )
    if not record:
        return install
    return script(
        PACKAGES_LOCK,
        'missing=""',
        f'for p in {names}; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done',
        'if [ -n "$missing" ]; then',
        install,
        f"install -d {PACKAGES_DIR}",
        f'printf "%s\\n" $missing >> {PACKAGES_DIR}/{record}',
        "fi",
    ).rstrip("\n")


def recording_packages(record: str, body: str) -> str:
    """Run `body` (which installs Debian packages somehow: apt, local .deb files) and note the
    packages it added, for `remove_packages(record)`."""
    listing = "dpkg-query -W -f='${Package}\\n' | sort"
    return script(
        PACKAGES_LOCK,
        f'before="$({listing})"',
        body,
        f"install -d {PACKAGES_DIR}",
        f'comm -13 <(printf "%s\\n" "$before") <({listing}) >> {PACKAGES_DIR}/{record}',
    ).rstrip("\n")


def when_changed(path: str, mark: str, body: str) -> str:
    """Run `body`; if it changed the file at `path`, mark `mark` (a unit) for a restart."""
    digest = f"sha256sum {q(path)} 2>/dev/null || true"
    return script(
        f'before="$({digest})"',
        body,
        f'[ "$({digest})" = "$before" ] || install -D -m 0644 /dev/null {PENDING_DIR}/{mark}',
    ).rstrip("\n")


def remove_packages(record: str) -> str:
    """Purge the packages `ensure_packages(..., record)` installed, and what they pulled in."""
    listed = f"{PACKAGES_DIR}/{record}"
    return script(
        PACKAGES_LOCK,
        f"if [ -s {listed} ]; then",
        f"{APT} purge -y -q $(sort -u {listed})",
        f"{APT} autoremove --purge -y -q",
        "fi",
        f"rm -f {listed}",
    ).rstrip("\n")


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
