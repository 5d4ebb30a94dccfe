"""`make run`'s runner: the data directory a first boot would make, the sticker, supervisord."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from image.builder import devrun
from runtime.firstboot import prepare_device

REPO = Path(__file__).resolve().parents[2]
SIMULATED = REPO / "profiles" / "simulated.yaml"


def test_first_start_copies_the_profile_and_prints_the_sticker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devrun.main(["--data-dir", str(tmp_path), "--no-exec"]) == 0
    out = capsys.readouterr().out
    assert "Installer password:" in out and "EV password:" in out
    active = tmp_path / "profile.yaml"
    assert active.read_text() == (REPO / "profiles" / "simulated.yaml").read_text()
    assert (tmp_path / "run" / "supervisord.conf").is_file()


def test_second_start_keeps_the_edited_profile_and_the_same_logins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devrun.main(["--data-dir", str(tmp_path), "--no-exec"])
    first = capsys.readouterr().out
    active = tmp_path / "profile.yaml"
    edited = active.read_text().replace("current_limit_a: 32", "current_limit_a: 16")
    active.write_text(edited)
    devrun.main(["--data-dir", str(tmp_path), "--no-exec"])
    assert active.read_text() == edited
    assert capsys.readouterr().out == first


def test_an_invalid_active_profile_stops_the_start_with_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_device(tmp_path, SIMULATED)
    active = tmp_path / "profile.yaml"
    active.write_text(active.read_text().replace("current_limit_a: 32", "current_limit_a: 99"))
    assert devrun.main(["--data-dir", str(tmp_path), "--no-exec"]) == 1
    assert "electrical.current_limit_a" in capsys.readouterr().err
    assert not (tmp_path / "run" / "supervisord.conf").exists()


def test_the_web_configurator_resets_to_the_profile_make_run_started_with(tmp_path: Path) -> None:
    profile = REPO / "profiles" / "three-phase-dlb-ct-trs.yaml"
    assert devrun.main(["--data-dir", str(tmp_path), "--profile", str(profile), "--no-exec"]) == 0
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tmp_path / "run" / "supervisord.conf")
    command = parser["program:webapp"]["command"]
    assert command.endswith(f"--data-dir {tmp_path} --default-profile {profile}")
    assert parser["program:webapp"]["directory"] == str(REPO)
