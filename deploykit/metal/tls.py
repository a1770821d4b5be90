"""The stack's own certificate authority and host certificates, made with openssl.

Pulumi runs these scripts once on the deployer's machine (`local.Command`) and keeps their
output as secrets in the stack state; a host certificate is remade when its names change. Each
host certificate serves NATS clients and routes (mutual TLS between servers) and PostgreSQL, so
it carries both serverAuth and clientAuth and every address the host is known by.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from deploykit.metal.shell import q, script

__all__ = ["INTERPRETER", "ca_script", "certificate_script", "split_pem", "subject_alt_names"]

INTERPRETER = ["/bin/bash", "-euo", "pipefail", "-c"]
_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?\n-----END \1-----\n?", re.DOTALL)


def subject_alt_names(names: Sequence[str]) -> str:
    """`IP:` for addresses, `DNS:` for names, each once, in the order given."""
    entries: list[str] = []
    for name in names:
        try:
            entry = f"IP:{ipaddress.ip_address(name)}"
        except ValueError:
            entry = f"DNS:{name}"
        if entry not in entries:
            entries.append(entry)
    return ",".join(entries)


def ca_script(common_name: str, days: int = 3650) -> str:
    """Print a new self-signed CA certificate, then its private key."""
    return script(
        'dir="$(mktemp -d)"',
        "trap 'rm -rf \"$dir\"' EXIT",
        f"openssl req -x509 {_KEY} -days {days} -subj {q('/CN=' + common_name)} "
        '-keyout "$dir/ca.key" -out "$dir/ca.pem" '
        '-addext "basicConstraints=critical,CA:TRUE" '
        '-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null',
        'cat "$dir/ca.pem" "$dir/ca.key"',
    )


def certificate_script(common_name: str, names: Sequence[str], days: int = 825) -> str:
    """Read the CA (certificate and key) on stdin; print a host certificate, then its key."""
    extensions = [
        f"subjectAltName={subject_alt_names(names)}",
        "extendedKeyUsage=serverAuth,clientAuth",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "basicConstraints=critical,CA:FALSE",
    ]
    return script(
        'dir="$(mktemp -d)"',
        "trap 'rm -rf \"$dir\"' EXIT",
        'cat > "$dir/ca"',
        f"printf '%s\\n' {' '.join(q(e) for e in extensions)} > \"$dir/ext\"",
        f"openssl req -new {_KEY} -subj {q('/CN=' + common_name)} "
        '-keyout "$dir/key.pem" -out "$dir/req.csr" 2>/dev/null',
        'openssl x509 -req -in "$dir/req.csr" -CA "$dir/ca" -CAkey "$dir/ca" '
        f'-set_serial "0x$(openssl rand -hex 16)" -days {days} -sha256 '
        '-extfile "$dir/ext" -out "$dir/cert.pem" 2>/dev/null',
        'cat "$dir/cert.pem" "$dir/key.pem"',
    )


def split_pem(text: str) -> tuple[str, str]:
    """(certificate, private key) from the output of the scripts above."""
    blocks = [m.group(0).rstrip("\n") + "\n" for m in _PEM.finditer(text)]
    certs = [b for b in blocks if "CERTIFICATE-----" in b.splitlines()[0]]
    keys = [b for b in blocks if "PRIVATE KEY-----" in b.splitlines()[0]]
    if len(certs) != 1 or len(keys) != 1:
        raise ValueError(
            f"expected one certificate and one key, found {len(certs)} and {len(keys)}"
        )
    return certs[0], keys[0]
