"""The per-device TLS certificate of the configurator, made once at first boot.

A self-signed ECDSA P-256 certificate for the charger's names and addresses (the access point's
10.10.0.1, its hostname, localhost), kept with the device secrets; the key never leaves them.
First boot (runtime.firstboot) makes it; the web configurator makes it too if it is missing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runtime.config.atomic import atomic_write_bytes
from schemas.profile import Profile

VALIDITY = dt.timedelta(days=3650)  # a wallbox lives ten years; the owner accepts it once


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificate and its key live."""

    certificate: Path
    key: Path


def tls_files(data_dir: Path) -> TlsFiles:
    """The TLS files of a device."""
    directory = data_dir / "secrets" / "tls"
    return TlsFiles(directory / "cert.pem", directory / "key.pem")


def ensure_certificate(
    data_dir: Path, common_name: str, names: tuple[str, ...], addresses: tuple[str, ...]
) -> TlsFiles:
    """Create the certificate and key unless they exist; return their paths."""
    files = tls_files(data_dir)
    if files.certificate.exists() and files.key.exists():
        return files
    files.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alternative = [x509.DNSName(name) for name in names] + [
        x509.IPAddress(ipaddress.ip_address(address)) for address in addresses
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_bytes(files.key, key_pem, 0o600)
    atomic_write_bytes(files.certificate, certificate.public_bytes(serialization.Encoding.PEM))
    return files


def ensure_device_certificate(data_dir: Path, profile: Profile, identity: str) -> TlsFiles:
    """The certificate for this device's hostname, localhost, access point and loopback."""
    hostname = profile.network.hostname or socket.gethostname()
    return ensure_certificate(
        data_dir,
        identity,
        (hostname, "localhost"),
        (str(profile.network.access_point.address.ip), "127.0.0.1"),
    )


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the device certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.certificate, files.key)
    return context
