"""Charging comes first at boot: evse records its start (run/evse.started, this boot only), and
the web configurator and the health check start after it (`runtime.after_evse`), or after a
bound when evse never starts (at once when supervisord gives up on it), so a broken evse cannot
keep the configurator away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.after_evse import wait_for_evse
from runtime.boot.started import read_started, started_path, this_boot, write_started
from runtime.programs import Program, SupervisorLayout, supervisord_conf
from tests.runtime.test_programs import supervisord

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0  # bounds the real-process tests; they normally take a fraction of a second


def launcher(data_dir: Path, within_s: float, shown: Path) -> subprocess.Popen[str]:
    """`python -m runtime.after_evse ... -- json.tool FILE`: a program whose output shows it ran
    with the arguments it was given."""
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.after_evse", "--data-dir", str(data_dir),
         "--within", str(within_s), "--", "json.tool", str(shown)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def still_waiting(process: subprocess.Popen[str], for_s: float = 0.5) -> bool:
    """The process has not ended within `for_s`."""
    try:
        process.wait(timeout=for_s)
    except subprocess.TimeoutExpired:
        return True
    return False


def test_evse_records_its_start_for_this_boot_only(tmp_path: Path) -> None:
    written = write_started(tmp_path, "available", "green", uptime_s=21.5)
    assert read_started(tmp_path) == written
    assert (written.boot_id, written.uptime_s, written.led) == (this_boot(), 21.5, "green")
    assert read_started(tmp_path, boot_id="a-previous-boot") is None  # a power cut left it
    assert not list(tmp_path.glob("*.partial"))


def test_a_garbled_or_missing_record_counts_as_not_started(tmp_path: Path) -> None:
    assert read_started(tmp_path) is None
    started_path(tmp_path).write_text('{"boot_id": "', encoding="utf-8")
    assert read_started(tmp_path) is None
    started_path(tmp_path).write_text(json.dumps({"boot_id": this_boot()}), encoding="utf-8")
    assert read_started(tmp_path) is None


def test_the_wait_ends_at_its_bound_without_evse(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    missing = wait_for_evse(tmp_path, 5.0, clock=lambda: now[0], sleep=sleep)
    assert missing == "evse has not started within 5 s"
    assert 5.0 <= now[0] <= 5.5
    frozen = [0]

    def count(_seconds: float) -> None:
        frozen[0] += 1

    assert wait_for_evse(tmp_path, 5.0, clock=lambda: 0.0, sleep=count) is not None
    assert frozen[0] <= 5.0 / 0.2 + 2  # bounded even when the clock stands still


def test_supervisord_is_not_asked_before_it_could_have_given_up(tmp_path: Path) -> None:
    # startretries=3 with backoffs of 1, 2 and 3 s: no FATAL within 6 s of the first start.
    now, asked_at = [0.0], []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def gave_up(_run_dir: Path) -> bool:
        asked_at.append(round(now[0], 1))
        return now[0] >= 9.0

    missing = wait_for_evse(tmp_path, 30.0, clock=lambda: now[0], sleep=sleep, gave_up=gave_up)
    assert missing == "supervisord gave up on evse (FATAL)"
    assert asked_at == [6.0, 8.0, 10.0]


def test_the_configurator_starts_once_evse_has_started_in_this_boot(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    shown = tmp_path / "shown.json"
    shown.write_text('{"program": "ran"}', encoding="utf-8")
    write_started(tmp_path / "run", "available", "green", boot_id="a-previous-boot")
    process = launcher(tmp_path, WAIT_S, shown)
    try:
        assert still_waiting(process), process.communicate()  # the old boot's record: no start
        write_started(tmp_path / "run", "available", "green")
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert json.loads(out) == {"program": "ran"}
    assert err == ""


def test_without_evse_the_configurator_still_starts_after_the_bound(tmp_path: Path) -> None:
    shown = tmp_path / "shown.json"
    shown.write_text("[1]", encoding="utf-8")
    process = launcher(tmp_path, 1.0, shown)
    try:
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        process.kill()
    assert process.returncode == 0
    assert json.loads(out) == [1]
    assert "evse has not started within 1 s; starting json.tool anyway" in err


def test_a_launcher_without_a_program_says_how_to_name_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.after_evse", "--data-dir", str(tmp_path), "--within", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=WAIT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "name the program after --, e.g. -- webui --data-dir /data" in done.stderr


def test_a_broken_evse_releases_the_wait_once_supervisord_gives_up_on_it(tmp_path: Path) -> None:
    for folder in ("run", "log"):
        (tmp_path / folder).mkdir()
    layout = SupervisorLayout(tmp_path, sys.executable, REPO, tmp_path / "factory.yaml")
    broken = Program("evse", "runtime.no_such_module", "an evse that never starts")
    conf = tmp_path / "run" / "supervisord.conf"
    conf.write_text(supervisord_conf(layout, (broken,)), encoding="utf-8")
    shown = tmp_path / "shown.json"
    shown.write_text("{}", encoding="utf-8")
    with supervisord(conf) as proxy:
        process = launcher(tmp_path, 120.0, shown)  # far beyond supervisord's few retries
        try:
            out, err = process.communicate(timeout=110.0)
        finally:
            process.kill()
        assert proxy.supervisor.getProcessInfo("evse")["statename"] == "FATAL"
    assert json.loads(out) == {}
    assert "supervisord gave up on evse (FATAL); starting json.tool anyway" in err
