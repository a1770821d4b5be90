"""The stack's own certificate authority, host certificates and passwords, made in Python
(the `cryptography` package) on the deploying machine. Effectful only in that they are random.

Pulumi makes them once (a dynamic provider, `components/metal/generated.py`) and keeps them as
secrets in the stack state; a host certificate is remade when its names or its CA change.
Each host certificate serves NATS clients and routes (mutual TLS between servers) and
PostgreSQL, so it carries both serverAuth and clientAuth and every address the host is known by.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import secrets
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "new_ca",
    "new_host_certificate",
    "new_password",
    "split_pem",
    "subject_alt_names",
]

_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?\n-----END \1-----\n?", re.DOTALL)


def new_password() -> str:
    """48 hex characters: safe in URLs, config files and command lines alike."""
    return secrets.token_hex(24)


def subject_alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """IP entries for addresses, DNS entries for names, each once, in the order given."""
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            entry = x509.DNSName(name)
        if entry not in entries:
            entries.append(entry)
    return entries


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def new_ca(common_name: str, days: int = 3650) -> tuple[str, str]:
    """A new self-signed CA: (certificate, private key), PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        _builder(common_name, name, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def new_host_certificate(
    ca_certificate: str, ca_key: str, common_name: str, names: Sequence[str], days: int = 825
) -> tuple[str, str]:
    """A host certificate signed by the CA: (certificate, private key), PEM."""
    ca = x509.load_pem_x509_certificate(ca_certificate.encode())
    signer = serialization.load_pem_private_key(ca_key.encode(), password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder(common_name, ca.subject, key, days)
        .add_extension(x509.SubjectAlternativeName(subject_alt_names(names)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
        .sign(signer, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def split_pem(text: str) -> tuple[str, str]:
    """(certificate, private key) from a PEM bundle holding one of each."""
    blocks = [m.group(0).rstrip("\n") + "\n" for m in _PEM.finditer(text)]
    certs = [b for b in blocks if "CERTIFICATE-----" in b.splitlines()[0]]
    keys = [b for b in blocks if "PRIVATE KEY-----" in b.splitlines()[0]]
    if len(certs) != 1 or len(keys) != 1:
        raise ValueError(
            f"expected one certificate and one key, found {len(certs)} and {len(keys)}"
        )
    return certs[0], keys[0]
