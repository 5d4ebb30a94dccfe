"""The image's network stack starts after evse (plain shell, /usr/lib/chargeos/wait-for-evse):
it waits for evse's record of this boot, ignores one a previous boot left, and never waits past
its bound."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from runtime.boot.started import write_started

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "image" / "overlays" / "common" / "usr" / "lib" / "chargeos" / "wait-for-evse"
UNITS = REPO / "image" / "overlays" / "common" / "etc" / "systemd" / "system"


def start(tmp_path: Path, bound_s: int) -> subprocess.Popen[str]:
    """The script on a fake boot id and run directory."""
    (tmp_path / "boot_id").write_text("this-boot\n")
    environment = {
        **os.environ,
        "CHARGEOS_EVSE_STARTED": str(tmp_path / "evse.started"),
        "CHARGEOS_BOOT_ID": str(tmp_path / "boot_id"),
    }
    return subprocess.Popen([str(SCRIPT), str(bound_s)], env=environment, text=True,
                            stderr=subprocess.PIPE)  # fmt: skip


def test_it_returns_once_evse_has_started_in_this_boot(tmp_path: Path) -> None:
    write_started(tmp_path, "available", "green", boot_id="a-previous-boot")
    waiting = start(tmp_path, 60)
    try:
        try:
            waiting.wait(timeout=1.0)
            raise AssertionError("a previous boot's record released the wait")
        except subprocess.TimeoutExpired:
            pass
        write_started(tmp_path, "available", "green", boot_id="this-boot")
        assert waiting.wait(timeout=30) == 0
    finally:
        waiting.kill()
    assert waiting.stderr is not None and waiting.stderr.read() == ""


def test_without_evse_it_gives_up_after_its_bound_and_lets_the_unit_start(tmp_path: Path) -> None:
    waiting = start(tmp_path, 1)
    try:
        assert waiting.wait(timeout=30) == 0
    finally:
        waiting.kill()
    assert waiting.stderr is not None
    assert waiting.stderr.read() == "evse has not started within 1 s; starting anyway\n"


def test_the_network_stack_waits_for_evse() -> None:
    for unit in ("NetworkManager", "ModemManager"):
        drop_in = (UNITS / f"{unit}.service.d" / "chargeos-after-evse.conf").read_text()
        assert "ExecStartPre=/usr/lib/chargeos/wait-for-evse 30" in drop_in
