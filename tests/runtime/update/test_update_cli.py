"""`python -m runtime.update verify ZIP`: the verdict printed; exit 0 only when it would install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.update.__main__ import EXIT_OK, EXIT_REFUSED, EXIT_SYSTEM, main
from runtime.update.keys import key_id
from runtime.update.system import SYSTEM_FILE
from tests.runtime.update.fakes import PAYLOAD, write_system_root

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def root(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Path:
    """An image's root directory trusting the test key."""
    return write_system_root(tmp_path / "root", [signing_key.public_key()])


def test_an_installable_zip_exits_0_with_the_summary_then_details_indented(
    update_zip: Path, root: Path, signing_key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        f"signed by key {key_id(signing_key.public_key())} and ready to install"
    )
    assert lines[1:] and all(line.startswith("  ") for line in lines[1:])


def test_a_refused_zip_exits_1(
    update_zip: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", str(update_zip), "--root", str(root), "--slot-size", str(len(PAYLOAD) - 1)]
    assert main(args) == EXIT_REFUSED
    assert "larger than this charger's system slot" in capsys.readouterr().out


def test_force_accepts_the_running_version(
    update_zip: Path, tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    root = write_system_root(tmp_path / "same", [signing_key.public_key()], version="0.3.0")
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_REFUSED
    assert main(["verify", str(update_zip), "--root", str(root), "--force"]) == EXIT_OK


def test_an_unreadable_system_description_exits_2(
    update_zip: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / SYSTEM_FILE).write_text("{}")
    assert main(["verify", str(update_zip), "--root", str(root)]) == EXIT_SYSTEM
    assert "system.json: " in capsys.readouterr().err


def test_the_module_runs_from_the_command_line(update_zip: Path, root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.update", "verify", str(update_zip), "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready to install" in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "runtime.update", "verify", str(update_zip.with_name("no.zip"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1 and missing.stdout.startswith("The update file cannot be read.")
