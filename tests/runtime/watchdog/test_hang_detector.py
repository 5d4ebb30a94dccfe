"""Which programs the watchdog finds hung, from the heartbeats it heard and supervisord's list."""

from __future__ import annotations

from runtime.supervisor import ProgramState
from runtime.watchdog.hangs import HangDetector


def running(name: str, pid: int) -> ProgramState:
    return ProgramState(name, "RUNNING", f"pid {pid}", pid)


def test_a_program_that_keeps_beating_is_never_hung() -> None:
    detector = HangDetector({"evse"}, hung_after_s=30, start_grace_s=120)
    for second in range(0, 600, 5):
        detector.heard(100, float(second))
        assert detector.hung([running("evse", 100)], float(second) + 4) == []


def test_a_program_silent_for_the_bound_is_hung_once_and_its_next_process_starts_afresh() -> None:
    detector = HangDetector({"evse"}, hung_after_s=30, start_grace_s=120)
    detector.heard(100, 0.0)
    assert detector.hung([running("evse", 100)], 29.0) == []
    (hang,) = detector.hung([running("evse", 100)], 30.0)
    assert (hang.name, hang.pid, hang.reason) == ("evse", 100, "no heartbeat for 30 s")
    assert detector.hung([running("evse", 101)], 31.0) == []  # restarted: a grace of its own
    detector.heard(101, 40.0)
    assert detector.hung([running("evse", 101)], 60.0) == []


def test_a_program_that_never_beats_is_hung_after_its_start_grace() -> None:
    detector = HangDetector({"webapp"}, hung_after_s=30, start_grace_s=120)
    assert detector.hung([running("webapp", 7)], 1000.0) == []  # first seen now
    assert detector.hung([running("webapp", 7)], 1119.0) == []
    (hang,) = detector.hung([running("webapp", 7)], 1120.0)
    assert hang.reason == "no heartbeat in the 120 s since it started"


def test_a_heartbeat_from_another_process_does_not_keep_a_program_alive() -> None:
    detector = HangDetector({"evse"}, hung_after_s=30, start_grace_s=120)
    detector.heard(100, 0.0)
    assert detector.hung([running("evse", 100)], 1.0) == []
    for second in range(2, 40):
        detector.heard(555, float(second))  # not evse's pid
    assert [h.name for h in detector.hung([running("evse", 100)], 40.0)] == ["evse"]


def test_stopped_starting_and_unwatched_programs_are_never_judged() -> None:
    detector = HangDetector({"evse", "webapp"}, hung_after_s=30, start_grace_s=120)
    programs = [
        ProgramState("evse", "STOPPED", "Not started", 0),
        ProgramState("webapp", "STOPPING", "", 12),
        running("watchdog", 13),
    ]
    assert detector.hung(programs, 0.0) == []
    assert detector.hung(programs, 10_000.0) == []
