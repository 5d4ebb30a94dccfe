"""`python -m runtime.firstboot --data-dir D --factory-profile P`: what first boot makes on /data.

The data partition gets its directories, the active profile (a copy of the factory profile, once),
the device secrets, the configurator's TLS certificate and the debug SSH key. `make run` prepares
var/data the same way. Safe to run at every boot: nothing that exists is replaced. The sticker goes
to stdout only when the secrets were made by this call (the image's unit sends stdout to the
serial console).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.config.atomic import atomic_write_text
from runtime.config.debug_ssh_keys import ensure_device_key
from runtime.config.device_secrets import provision_device_secrets
from runtime.config.device_tls import ensure_device_certificate
from runtime.config.errors import ProfileError, ProfileInvalid
from runtime.config.loader import load_profile
from runtime.config.profile_text import read_profile_text
from schemas.profile import Profile

SUBDIRECTORIES = ("log", "run", "uploads", "update")


@dataclass(frozen=True)
class FirstBoot:
    """What preparing the data directory found or made."""

    created: bool  # the device secrets were made by this call
    sticker_path: Path
    profile_path: Path  # the active profile
    profile_valid: bool
    errors: tuple[ProfileError, ...]  # the active profile's, located; empty when valid
    profile: Profile | None = None  # the active profile, when valid


def prepare_device(data_dir: Path, factory_profile: Path) -> FirstBoot:
    """Directories, active profile, device secrets, TLS certificate and debug SSH key; keeps
    what exists."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in SUBDIRECTORIES:
        (data_dir / name).mkdir(exist_ok=True)
    active = data_dir / "profile.yaml"
    if not active.exists():
        atomic_write_text(active, read_profile_text(factory_profile, "the factory profile"))
    try:
        profile: Profile | None = load_profile(active).profile
        errors: tuple[ProfileError, ...] = ()
    except ProfileInvalid as invalid:
        profile, errors = None, invalid.errors
    # An invalid active profile must not leave the device without its logins: the factory
    # profile names the identity, so the installer can still sign in and repair it.
    basis = profile if profile is not None else load_profile(factory_profile).profile
    provisioned = provision_device_secrets(data_dir, basis.station.identity_prefix)
    ensure_device_certificate(data_dir, basis, provisioned.secrets.charger_identity)
    ensure_device_key(data_dir, provisioned.secrets.charger_identity)
    return FirstBoot(
        created=provisioned.created,
        sticker_path=provisioned.sticker_path,
        profile_path=active,
        profile_valid=profile is not None,
        errors=errors,
        profile=profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the data directory; 0 when the active profile is valid, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m runtime.firstboot", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="the data partition")
    parser.add_argument(
        "--factory-profile", type=Path, required=True, help="the profile the image was built with"
    )
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    try:
        boot = prepare_device(data_dir, args.factory_profile.resolve())
    except ProfileInvalid as invalid:  # the factory profile itself: the image is broken
        print(f"the factory profile {args.factory_profile} is invalid:", file=sys.stderr)
        print(invalid, file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cannot prepare the data directory {data_dir}: {error}", file=sys.stderr)
        return 1
    secrets_dir = boot.sticker_path.parent
    if boot.created:
        print(f"ChargeOS first boot: device secrets created in {secrets_dir}")
        print(boot.sticker_path.read_text(encoding="utf-8"), end="", flush=True)
    else:
        print(f"ChargeOS: device secrets already provisioned ({secrets_dir})", flush=True)
    if not boot.profile_valid:
        report_invalid_profile(boot)
        return 1
    return 0


def report_invalid_profile(boot: FirstBoot) -> None:
    """Print the active profile's located errors to stderr, one per line."""
    print(f"the active profile {boot.profile_path} is invalid:", file=sys.stderr)
    print("\n".join(str(error) for error in boot.errors), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
