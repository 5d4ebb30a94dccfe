"""The image switches off OpenSSL's default CA file (chargeos-openssl.conf) to spare every
service the parse of the whole bundle at import; TLS verification must still find every CA,
through the hashed directory. Checked with a real TLS server on loopback and a client process
that gets the image's environment."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "image/overlays/common/etc/systemd/system.conf.d/chargeos-openssl.conf"
TIMEOUT_S = 30.0
CLIENT = """
import socket, ssl, sys
context = ssl.create_default_context()
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            print("verified", tls.version())
    except ssl.SSLCertVerificationError as error:
        print("refused", error.verify_message)
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_leaf(folder: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a localhost certificate it signed with its key: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = (
        x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(leaf_key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes handshakes until the block ends; its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # a client that refused our certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def image_environment() -> dict[str, str]:
    """The variables chargeos-openssl.conf gives every service of the image."""
    (line,) = (s for s in CONF.read_text().splitlines() if s.startswith("DefaultEnvironment="))
    name, value = line.removeprefix("DefaultEnvironment=").split("=", 1)
    return {name: value}


def client(port: int, environment: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port)],
        env={**os.environ, **environment}, capture_output=True, text=True, timeout=TIMEOUT_S,
        check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_the_image_switches_off_only_the_default_ca_file() -> None:
    assert image_environment() == {"SSL_CERT_FILE": "/dev/null"}


def test_without_the_default_ca_file_a_ca_in_the_hashed_directory_still_verifies(
    tmp_path: Path,
) -> None:
    ca, cert, key = make_ca_and_leaf(tmp_path)
    hashed, empty = tmp_path / "certs", tmp_path / "no-certs"
    hashed.mkdir()
    empty.mkdir()
    (hashed / "test-ca.pem").write_bytes(ca.read_bytes())
    subprocess.run(["openssl", "rehash", str(hashed)], check=True, timeout=TIMEOUT_S)
    assert any(path.suffix == ".0" for path in hashed.iterdir())  # the subject-hash link
    with tls_server(cert, key) as port:
        assert client(port, {**image_environment(), "SSL_CERT_DIR": str(hashed)}).startswith(
            "verified"
        )
        # The check can fail: with the CA in neither place, the same client refuses.
        refused = client(port, {**image_environment(), "SSL_CERT_DIR": str(empty)})
        assert refused.startswith("refused"), refused
