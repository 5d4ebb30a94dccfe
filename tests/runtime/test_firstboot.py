"""First boot on the data partition: directories, active profile, device secrets, certificate."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from runtime import firstboot
from runtime.config.device_secrets import load_device_secrets
from runtime.config.device_tls import tls_files
from runtime.config.loader import load_profile

REPO = Path(__file__).resolve().parents[2]
FACTORY = REPO / "profiles" / "simulated.yaml"


def first_boot(data_dir: Path, factory: Path = FACTORY) -> int:
    """`python -m runtime.firstboot --data-dir D --factory-profile P`, in this process."""
    return firstboot.main(["--data-dir", str(data_dir), "--factory-profile", str(factory)])


def snapshot(data_dir: Path) -> dict[str, bytes]:
    """Every file under the data directory and its bytes."""
    return {
        str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()
    }


def test_first_boot_makes_the_data_partition_and_prints_the_logins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert first_boot(data_dir) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"ChargeOS first boot: device secrets created in {data_dir / 'secrets'}"
    assert "\n".join(lines[1:]) + "\n" == (data_dir / "secrets" / "sticker.txt").read_text()
    assert "Installer password:" in out and "EV password:" in out
    for sub in ("log", "run", "uploads"):
        assert (data_dir / sub).is_dir()
    assert (data_dir / "profile.yaml").read_text() == FACTORY.read_text()
    assert load_device_secrets(data_dir).charger_identity.startswith("VT_")
    assert tls_files(data_dir).key.stat().st_mode & 0o777 == 0o600


def test_the_certificate_names_the_device_on_every_address_it_serves(tmp_path: Path) -> None:
    boot = firstboot.prepare_device(tmp_path, FACTORY)
    certificate = x509.load_pem_x509_certificate(tls_files(tmp_path).certificate.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    addresses = names.get_values_for_type(x509.IPAddress)
    profile = load_profile(boot.profile_path).profile
    assert ipaddress.ip_address("127.0.0.1") in addresses
    assert profile.network.access_point.address.ip in addresses
    common_name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common_name == load_device_secrets(tmp_path).charger_identity


def test_every_later_boot_changes_nothing_and_prints_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert first_boot(tmp_path) == 0
    capsys.readouterr()
    active = tmp_path / "profile.yaml"
    active.write_text(active.read_text().replace("current_limit_a: 32", "current_limit_a: 16"))
    before = snapshot(tmp_path)
    assert first_boot(tmp_path) == 0
    assert snapshot(tmp_path) == before
    out = capsys.readouterr().out
    assert out == f"ChargeOS: device secrets already provisioned ({tmp_path / 'secrets'})\n"


def test_prepare_device_reports_what_it_found(tmp_path: Path) -> None:
    first = firstboot.prepare_device(tmp_path, FACTORY)
    again = firstboot.prepare_device(tmp_path, FACTORY)
    assert (first.created, again.created) == (True, False)
    assert first.profile_valid and first.errors == () and first.profile is not None
    assert again.sticker_path == first.sticker_path == tmp_path / "secrets" / "sticker.txt"
    assert again.profile_path == tmp_path / "profile.yaml"


def test_an_invalid_active_profile_still_gets_logins_from_the_factory_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = tmp_path / "factory.yaml"
    factory.write_text(
        FACTORY.read_text().replace("identity_prefix: VT_", "identity_prefix: ACME_")
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    broken = factory.read_text().replace("current_limit_a: 32", "current_limit_a: 99")
    (data_dir / "profile.yaml").write_text(broken.replace("ACME_", "OTHER_"))
    assert first_boot(data_dir, factory) == 1
    captured = capsys.readouterr()
    assert "Installer password:" in captured.out  # the installer can sign in and repair it
    assert f"{data_dir / 'profile.yaml'}:18:" in captured.err
    assert "electrical.current_limit_a" in captured.err
    assert load_device_secrets(data_dir).charger_identity.startswith("ACME_")
    boot = firstboot.prepare_device(data_dir, factory)
    assert not boot.profile_valid and boot.profile is None
    assert [error.path for error in boot.errors] == ["electrical.current_limit_a"]


def test_an_invalid_factory_profile_stops_first_boot_with_its_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = tmp_path / "factory.yaml"
    factory.write_text(FACTORY.read_text().replace("current_limit_a: 32", "current_limit_a: 99"))
    assert first_boot(tmp_path / "data", factory) == 1
    err = capsys.readouterr().err
    assert f"{factory}:18:" in err and "electrical.current_limit_a" in err
    assert not (tmp_path / "data" / "secrets" / "device.json").exists()


def test_a_missing_factory_profile_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert first_boot(tmp_path / "data", tmp_path / "nowhere.yaml") == 1
    assert "nowhere.yaml" in capsys.readouterr().err


PROVISION_UNIT = REPO / "image/overlays/common/etc/systemd/system/chargeos-provision.service"


def provision_conditions() -> list[tuple[str, str]]:
    """The image unit's triggering conditions: (kind, path under /data) it runs for when missing."""
    conditions = []
    for line in PROVISION_UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("ConditionPath"):
            assert value.startswith("|!/data/"), line  # run when any one is missing
            conditions.append((key, value.removeprefix("|!/data/")))
    return conditions


def test_the_image_provisions_only_when_something_first_boot_makes_is_missing(
    tmp_path: Path,
) -> None:
    # A later boot skips the unit when every path exists: each must be one first boot makes,
    # and taking any one away must make the unit run and first boot make it again.
    conditions = provision_conditions()
    assert {path for _, path in conditions} >= {"profile.yaml", "secrets/device.json"}
    directories = {path for kind, path in conditions if kind == "ConditionPathIsDirectory"}
    assert directories == set(firstboot.SUBDIRECTORIES)  # one list in step with the other
    firstboot.prepare_device(tmp_path, FACTORY)
    for kind, path in conditions:
        made = tmp_path / path
        assert made.is_dir() if kind == "ConditionPathIsDirectory" else made.is_file(), path
    for kind, path in conditions:
        missing = tmp_path / path
        (missing.rmdir if kind == "ConditionPathIsDirectory" else missing.unlink)()
        firstboot.prepare_device(tmp_path, FACTORY)
        assert missing.exists(), path
