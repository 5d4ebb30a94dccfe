"""Who may log in to debug SSH: this device's own key pair and the installer's public keys.

First boot makes the device's ECDSA P-256 key pair (the curve of its TLS key) under
`<data_dir>/secrets/debug-ssh/` (0600 in 0700, like the other device secrets); the installer
downloads its private half from the Admin page. Public keys the installer adds there are
validated line by line and kept beside it. The root side (runtime.privileged.debug_ssh)
validates all of them again before sshd sees them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runtime.config.atomic import atomic_write_bytes, atomic_write_text

KEYS_DIR_MODE = 0o700
KEY_FILE_MODE = 0o600
MIN_RSA_BITS = 3072  # NIST SP 800-57: RSA below 3072 bits is not good for 128-bit security
MAX_INSTALLER_KEYS = 16
MAX_KEY_LINE_CHARS = 4096  # an RSA-8192 public key line is about 1.4 kB
ACCEPTED_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9@._+:=-]")
_COMMENT_MAX_CHARS = 64


class PublicKeyInvalid(ValueError):
    """A public key the device does not accept; the message names the line and the reason."""


@dataclass(frozen=True)
class PublicKey:
    """One validated public key, in the one-line form sshd reads (no options, ever)."""

    kind: str
    blob: str  # base64 of the key as OpenSSH encodes it
    comment: str

    def line(self) -> str:
        """The authorized_keys line: type, key and a comment of safe characters."""
        return f"{self.kind} {self.blob} {self.comment}".rstrip()

    def fingerprint(self) -> str:
        """SHA256:... as `ssh-keygen -l` and sshd's log show it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def keys_dir(data_dir: Path) -> Path:
    """Where the debug SSH credentials live on the data partition."""
    return data_dir / "secrets" / "debug-ssh"


def device_key_path(data_dir: Path) -> Path:
    """The device's private key (OpenSSH format), downloadable by the installer."""
    return keys_dir(data_dir) / "id_ecdsa"


def installer_keys_path(data_dir: Path) -> Path:
    """The public keys the installer added, one per line."""
    return keys_dir(data_dir) / "installer_keys"


def new_ssh_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A new ECDSA P-256 key and its private half in OpenSSH's own format (unencrypted: it
    lives in a 0600 file), as ssh and sshd read it: the device key and sshd's host key."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return key, private


def ensure_device_key(data_dir: Path, identity: str) -> bool:
    """Make this device's debug SSH key pair unless it exists; True when made now."""
    path = device_key_path(data_dir)
    if path.exists():
        return False
    path.parent.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
    path.parent.chmod(KEYS_DIR_MODE)  # mkdir's mode is filtered by the umask
    key, private = new_ssh_key()
    atomic_write_bytes(path, private, KEY_FILE_MODE)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    atomic_write_text(path.with_name("id_ecdsa.pub"), f"{public.decode()} {identity}\n")
    return True


def device_public_key(data_dir: Path) -> PublicKey:
    """The public half of the device key, derived from the private key itself."""
    path = device_key_path(data_dir)
    try:
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: missing; first boot (runtime.firstboot) makes the debug SSH key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise PublicKeyInvalid(f"{path}: not an OpenSSH private key ({error})") from None
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    kind, blob = public.decode().split()
    return PublicKey(kind, blob, "chargeos-device-key")


def parse_public_keys(text: str, where: str = "public keys") -> tuple[PublicKey, ...]:
    """Every key of `text` (one per line; blank and # lines skipped), or PublicKeyInvalid."""
    keys = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(parse_public_key(line))
        except PublicKeyInvalid as error:
            raise PublicKeyInvalid(f"{where}, line {number}: {error}") from None
    if len(keys) > MAX_INSTALLER_KEYS:
        raise PublicKeyInvalid(
            f"{where}: {len(keys)} keys; at most {MAX_INSTALLER_KEYS} are kept, remove some"
        )
    return tuple(keys)


def parse_public_key(line: str) -> PublicKey:
    """One OpenSSH public key line `type base64 [comment]`, checked by decoding the key."""
    if len(line) > MAX_KEY_LINE_CHARS:
        raise PublicKeyInvalid(f"longer than {MAX_KEY_LINE_CHARS} characters")
    kind, _, rest = line.partition(" ")
    if kind not in ACCEPTED_TYPES:
        hint = (
            "options before the key are not accepted"
            if "=" in kind or '"' in kind
            else f"expected one of {', '.join(ACCEPTED_TYPES)}"
        )
        raise PublicKeyInvalid(f"{kind[:40]!r} is not an accepted key type: {hint}")
    blob, _, comment = rest.strip().partition(" ")
    try:
        key = serialization.load_ssh_public_key(f"{kind} {blob}".encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as error:
        raise PublicKeyInvalid(f"the {kind} key does not decode ({error})") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise PublicKeyInvalid(
            f"an RSA key of {key.key_size} bits is too weak; use ssh-ed25519 or RSA of at least"
            f" {MIN_RSA_BITS} bits"
        )
    safe = _COMMENT_UNSAFE.sub("_", comment.strip())[:_COMMENT_MAX_CHARS]
    return PublicKey(kind, blob, safe)


def load_installer_keys(data_dir: Path) -> tuple[PublicKey, ...]:
    """The installer's keys as stored (none when the file does not exist)."""
    path = installer_keys_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    return parse_public_keys(text, str(path))


def save_installer_keys(data_dir: Path, text: str) -> tuple[PublicKey, ...]:
    """Validate `text` and replace the installer's keys with it; nothing changes if invalid."""
    keys = parse_public_keys(text, "Authorized public keys")
    directory = keys_dir(data_dir)
    directory.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
    directory.chmod(KEYS_DIR_MODE)
    body = "".join(f"{key.line()}\n" for key in keys)
    atomic_write_text(installer_keys_path(data_dir), body, KEY_FILE_MODE)
    return keys


def authorized_keys(data_dir: Path) -> tuple[PublicKey, ...]:
    """Everyone debug SSH lets in: the device key, then the installer's keys."""
    return (device_public_key(data_dir), *load_installer_keys(data_dir))
