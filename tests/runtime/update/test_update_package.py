"""The update writer: members in format order, all stored, byte-for-byte reproducible, written
under a temp name, and payloads streamed.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from image.builder import update_zip
from image.builder.update_zip import PackageError, member_date, write_update_zip
from runtime.update.keys import key_id
from runtime.update.manifest import UpdateManifest
from tests.runtime.update.fakes import FIELDS, PAYLOAD


def test_members_are_in_format_order_and_all_stored(
    update_zip: Path, signing_key: Ed25519PrivateKey
) -> None:
    with zipfile.ZipFile(update_zip) as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == [
            "chargeos-update",
            "manifest.json",
            f"manifest.sig.{key_id(signing_key.public_key())}",
            "rootfs.squashfs",
        ]
        assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}
        assert all(info.compress_size == info.file_size for info in infos)
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr for info in infos} == {0o644 << 16}
        assert archive.read("chargeos-update") == b"chargeos-update 1\n"
        assert archive.read("rootfs.squashfs") == PAYLOAD
        manifest = UpdateManifest.model_validate_json(archive.read("manifest.json"))
    assert manifest.payloads[0].sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert manifest.payloads[0].size == len(PAYLOAD)


def test_two_writes_give_the_same_bytes(
    tmp_path: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    for path in (first, second):
        write_update_zip(path, FIELDS, {"rootfs": payload_file}, [signing_key])
    assert first.read_bytes() == second.read_bytes()  # Ed25519 signatures are deterministic


def test_a_manifest_model_is_completed_with_the_measured_payloads(
    tmp_path: Path, payload_file: Path, signing_key: Ed25519PrivateKey
) -> None:
    stale = UpdateManifest.model_validate(
        {
            **FIELDS,
            "payloads": [{"name": "rootfs", "file": "root.img", "size": 1, "sha256": "0" * 64}],
        }
    )
    written = write_update_zip(tmp_path / "u.zip", stale, {"rootfs": payload_file}, [signing_key])
    assert written.payloads[0].file == "root.img" and written.payloads[0].size == len(PAYLOAD)


def test_member_dates_follow_source_date_epoch() -> None:
    assert member_date({"SOURCE_DATE_EPOCH": "1700000000"}) == (2023, 11, 14, 22, 13, 20)
    assert member_date({"SOURCE_DATE_EPOCH": "0"}) == (1980, 1, 1, 0, 0, 0)  # zip's earliest
    assert member_date({}) == (1980, 1, 1, 0, 0, 0)
    with pytest.raises(PackageError, match="SOURCE_DATE_EPOCH='soon' is not a number"):
        member_date({"SOURCE_DATE_EPOCH": "soon"})


@pytest.mark.parametrize(
    ("fields", "keys", "expected"),
    [
        (FIELDS, 0, "at least one signing key"),
        ({**FIELDS, "version": "0.1.0"}, 1, "min_version 0.2.0 is above version 0.1.0"),
        (FIELDS, 2, "a signing key is given twice"),
    ],
    ids=["no key", "invalid manifest", "same key twice"],
)
def test_a_refused_write_leaves_nothing_behind(
    tmp_path: Path,
    payload_file: Path,
    signing_key: Ed25519PrivateKey,
    fields: dict[str, object],
    keys: int,
    expected: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=expected):
        write_update_zip(out / "u.zip", fields, {"rootfs": payload_file}, [signing_key] * keys)
    assert list(out.iterdir()) == []


def test_an_unknown_payload_is_refused(tmp_path: Path, payload_file: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(PackageError, match="unknown payload kernel: known are rootfs"):
        write_update_zip(tmp_path / "u.zip", FIELDS, {"kernel": payload_file}, [key])
    assert not (tmp_path / "u.zip").exists()


def test_a_write_that_fails_midway_keeps_the_previous_zip_and_no_temp_file(
    tmp_path: Path,
    payload_file: Path,
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = out / "u.zip"
    write_update_zip(path, FIELDS, {"rootfs": payload_file}, [signing_key])
    before = path.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(update_zip, "_copy_payload", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_update_zip(
            path, {**FIELDS, "version": "0.4.0"}, {"rootfs": payload_file}, [signing_key]
        )
    assert path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["u.zip"]


def test_a_payload_that_changes_while_written_is_refused(
    tmp_path: Path,
    payload_file: Path,
    signing_key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured = update_zip._measured

    def measure_then_change(name: str, file: str, path: Path) -> object:
        payload = measured(name, file, path)
        path.write_bytes(b"changed" + PAYLOAD[7:])
        return payload

    monkeypatch.setattr(update_zip, "_measured", measure_then_change)
    with pytest.raises(PackageError, match="changed while the update was written"):
        write_update_zip(tmp_path / "u.zip", FIELDS, {"rootfs": payload_file}, [signing_key])
    assert not (tmp_path / "u.zip").exists()
