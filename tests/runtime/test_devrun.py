"""`make run`'s runner: the data directory a first boot would make, the sticker, supervisord."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from runtime import devrun
from runtime.programs import Program

REPO = Path(__file__).resolve().parents[2]


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
    devrun.prepare_data_dir(tmp_path, REPO / "profiles" / "simulated.yaml")
    active = tmp_path / "profile.yaml"
    active.write_text(active.read_text().replace("current_limit_a: 32", "current_limit_a: 99"))
    assert devrun.main(["--data-dir", str(tmp_path), "--no-exec"]) == 1
    assert "electrical.current_limit_a" in capsys.readouterr().err
    assert not (tmp_path / "secrets").exists()


def test_supervisord_configuration_lists_each_program_with_its_log(tmp_path: Path) -> None:
    programs = (Program("evse", "runtime.evse", "charging controller"),)
    text = devrun.supervisord_conf(tmp_path, programs, "/usr/bin/python3")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    section = parser["program:evse"]
    assert section["command"] == f"/usr/bin/python3 -m runtime.evse --data-dir {tmp_path}"
    assert section["stdout_logfile"] == str(tmp_path / "log" / "evse.log")
    assert parser["unix_http_server"]["file"] == str(tmp_path / "run" / "supervisor.sock")
    assert "rpcinterface:supervisor" in parser
