"""Device secrets: made once per device, private on disk, logins only on the sticker."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from runtime.config.device_secrets import (
    PASSWORD_HASH_PARAMETERS,
    UNAMBIGUOUS_ALPHABET,
    DeviceSecrets,
    DeviceSecretsError,
    ProvisionResult,
    change_password,
    default_password_hasher,
    load_device_secrets,
    provision_device_secrets,
    secrets_path,
    verify_password,
)

REPO = Path(__file__).resolve().parents[3]
STICKER_LABELS = [
    "Charger identity",
    "Access point SSID",
    "Access point password",
    "Installer user",
    "Installer password",
    "EV user",
    "EV password",
]


@pytest.fixture
def hasher() -> PasswordHasher:
    """Argon2id with the cheapest parameters, so tests stay fast."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def provisioned(tmp_path: Path, hasher: PasswordHasher) -> ProvisionResult:
    return provision_device_secrets(tmp_path / "data", hasher=hasher)


def sticker(result: ProvisionResult) -> dict[str, str]:
    rows = (line.split(":", 1) for line in result.sticker_path.read_text().splitlines())
    return {label: value.strip() for label, value in rows}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_secrets_are_readable_by_their_owner_only(tmp_path: Path, hasher: PasswordHasher) -> None:
    result = provision_device_secrets(tmp_path / "data", hasher=hasher)
    device_json = secrets_path(tmp_path / "data")

    assert mode_of(device_json.parent) == 0o700
    assert mode_of(device_json) == 0o600
    assert mode_of(result.sticker_path) == 0o600
    assert result.sticker_path.parent == device_json.parent


def test_second_provisioning_changes_nothing(
    provisioned: ProvisionResult, tmp_path: Path, hasher: PasswordHasher
) -> None:
    directory = secrets_path(tmp_path / "data").parent
    before = {path.name: path.read_bytes() for path in directory.iterdir()}

    again = provision_device_secrets(tmp_path / "data", hasher=hasher)

    assert provisioned.created
    assert not again.created
    assert again.secrets == provisioned.secrets
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before


def test_sticker_logins_verify_and_wrong_passwords_do_not(
    provisioned: ProvisionResult,
) -> None:
    label = sticker(provisioned)
    device = provisioned.secrets

    assert verify_password(device, "installer", label["Installer password"])
    assert verify_password(device, "ev", label["EV password"])
    assert not verify_password(device, "installer", label["EV password"])
    assert not verify_password(device, "ev", label["EV password"] + "x")
    assert not verify_password(device, "ev", "")


def test_sticker_shows_identity_access_point_and_both_logins(
    provisioned: ProvisionResult,
) -> None:
    label = sticker(provisioned)
    device = provisioned.secrets

    assert list(label) == STICKER_LABELS
    assert label["Charger identity"] == device.charger_identity
    assert label["Access point SSID"] == "VoltTime" + device.charger_identity[-6:]
    assert label["Access point password"] == device.access_point_psk
    assert label["Installer user"] == "installer"
    assert label["EV user"] == "ev"
    for generated, length in (
        (label["Access point password"], 12),
        (label["Installer password"], 16),
        (label["EV password"], 16),
    ):
        assert len(generated) >= length
        assert set(generated) <= set(UNAMBIGUOUS_ALPHABET)


def test_identity_is_the_prefix_and_seven_digits(tmp_path: Path, hasher: PasswordHasher) -> None:
    default = provision_device_secrets(tmp_path / "a", hasher=hasher).secrets
    custom = provision_device_secrets(tmp_path / "b", "ACME-", hasher=hasher).secrets

    assert re.fullmatch(r"VT_[0-9]{7}", default.charger_identity)
    assert re.fullmatch(r"ACME-[0-9]{7}", custom.charger_identity)
    assert re.fullmatch(r"VoltTime[0-9]{6}", default.access_point_ssid)


@pytest.mark.parametrize("prefix", ["", "VT 1", "a/b", "x" * 17])
def test_a_prefix_that_makes_no_valid_identity_is_refused(
    tmp_path: Path, hasher: PasswordHasher, prefix: str
) -> None:
    with pytest.raises(ValueError, match="identity prefix"):
        provision_device_secrets(tmp_path, prefix, hasher=hasher)

    assert not secrets_path(tmp_path).exists()


def test_device_file_holds_hashes_never_passwords(
    provisioned: ProvisionResult, tmp_path: Path
) -> None:
    label = sticker(provisioned)
    stored = secrets_path(tmp_path / "data").read_text()

    assert label["Installer password"] not in stored
    assert label["EV password"] not in stored
    assert provisioned.secrets.installer_password_hash.startswith("$argon2id$")
    assert load_device_secrets(tmp_path / "data") == provisioned.secrets


def test_changed_password_replaces_the_old_one(
    provisioned: ProvisionResult, tmp_path: Path, hasher: PasswordHasher
) -> None:
    label = sticker(provisioned)

    updated = change_password(tmp_path / "data", "ev", "correct horse battery", hasher=hasher)

    assert verify_password(updated, "ev", "correct horse battery")
    assert not verify_password(updated, "ev", label["EV password"])
    assert verify_password(updated, "installer", label["Installer password"])
    assert load_device_secrets(tmp_path / "data") == updated
    assert mode_of(secrets_path(tmp_path / "data")) == 0o600


def test_short_new_password_is_refused_and_nothing_changes(
    provisioned: ProvisionResult, tmp_path: Path, hasher: PasswordHasher
) -> None:
    before = secrets_path(tmp_path / "data").read_bytes()

    with pytest.raises(ValueError, match="10"):
        change_password(tmp_path / "data", "installer", "123456789", hasher=hasher)

    assert secrets_path(tmp_path / "data").read_bytes() == before


def test_unknown_login_is_refused(provisioned: ProvisionResult) -> None:
    with pytest.raises(ValueError, match="unknown login 'admin'"):
        verify_password(provisioned.secrets, "admin", "whatever")  # type: ignore[arg-type]


def test_every_device_gets_its_own_secrets(tmp_path: Path, hasher: PasswordHasher) -> None:
    first = provision_device_secrets(tmp_path / "one", hasher=hasher)
    second = provision_device_secrets(tmp_path / "two", hasher=hasher)

    assert first.secrets.charger_identity != second.secrets.charger_identity
    assert first.secrets.access_point_psk != second.secrets.access_point_psk
    for login in ("Installer password", "EV password"):
        assert sticker(first)[login] != sticker(second)[login]


def test_secrets_are_never_written_into_the_repository_profiles(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    profiles = REPO / "profiles"
    before = {path.name: path.read_bytes() for path in profiles.iterdir()}

    result = provision_device_secrets(tmp_path / "data", hasher=hasher)
    change_password(tmp_path / "data", "installer", "another long password", hasher=hasher)

    assert {path.name: path.read_bytes() for path in profiles.iterdir()} == before
    for secret in [*sticker(result).values(), result.secrets.ev_password_hash]:
        if secret not in ("installer", "ev"):
            assert all(secret.encode() not in content for content in before.values())
    assert not result.sticker_path.resolve().is_relative_to(REPO)


def test_missing_secrets_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DeviceSecretsError, match="not been provisioned") as missing:
        load_device_secrets(tmp_path)

    assert str(secrets_path(tmp_path)) in str(missing.value)


def test_corrupt_secrets_name_the_file(provisioned: ProvisionResult, tmp_path: Path) -> None:
    path = secrets_path(tmp_path / "data")
    path.write_text('{"charger_identity": "VT_00')

    with pytest.raises(DeviceSecretsError, match="corrupt") as corrupt:
        load_device_secrets(tmp_path / "data")

    assert str(path) in str(corrupt.value)


def test_secrets_others_could_read_are_refused(
    provisioned: ProvisionResult, tmp_path: Path
) -> None:
    path = secrets_path(tmp_path / "data")
    path.chmod(0o644)

    with pytest.raises(DeviceSecretsError, match="0644") as exposed:
        load_device_secrets(tmp_path / "data")

    assert str(path) in str(exposed.value)


def test_default_hasher_is_argon2id_with_the_named_parameters() -> None:
    hasher = default_password_hasher()
    digest = hasher.hash("a long enough password")

    assert digest.startswith("$argon2id$")
    assert f"m={PASSWORD_HASH_PARAMETERS.memory_cost}" in digest
    assert f"t={PASSWORD_HASH_PARAMETERS.time_cost}" in digest
    assert hasher.verify(digest, "a long enough password")


def test_secrets_model_refuses_unknown_fields(provisioned: ProvisionResult) -> None:
    data = provisioned.secrets.model_dump() | {"installer_password": "plaintext"}

    with pytest.raises(ValueError, match="installer_password"):
        DeviceSecrets.model_validate(data)
