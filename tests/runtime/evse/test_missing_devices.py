"""A missing I2C device is a visible fault or warning, logged once each way (manual 5.4).

The chips vanish at the far side of the real drivers: the SMBus double stops acknowledging
their address. Virtual time, so ten seconds of absence take a fraction of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.config.loader import load_profile
from runtime.evse.faults import FaultKind
from runtime.evse.service import start_controller
from runtime.evse.snapshot import evse_status
from runtime.evse.states import EvseState, LedColour, colour_of
from runtime.sim.car import CarSpec
from tests.runtime.evse.virtual_rig import VirtualCharger

REPO = Path(__file__).resolve().parents[3]
PROFILE = load_profile(REPO / "profiles" / "simulated.yaml").profile  # tilt/bump enabled
CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=0.3)
OWNER = "FB433810"
S = EvseState


@pytest.fixture
def charger(tmp_path: Path) -> Iterator[VirtualCharger]:
    charger = VirtualCharger(PROFILE, tmp_path / "chargeos.db", CAR)
    yield charger
    charger.close()


def run(charger: VirtualCharger, seconds: float) -> None:
    asyncio.run(charger.advance(seconds))


def charging(charger: VirtualCharger) -> None:
    run(charger, 1.0)  # the first accelerometer sample calibrates the rest position
    charger.station.car.plug_in()
    run(charger, 0.5)
    charger.chips.rfid.present_card(OWNER)
    run(charger, 0.5)
    charger.chips.rfid.remove_card()
    run(charger, 1.0)
    assert charger.controller.machine.state is S.CHARGING
    assert charger.station.board.contactor_closed


def led(charger: VirtualCharger) -> LedColour:
    return colour_of(charger.chips.led.colour())


@pytest.mark.parametrize(
    ("chip", "fault"), [("accelerometer", "accelerometer"), ("rfid", "rfid_reader")]
)
def test_a_missing_chip_is_logged_once_each_way_not_ten_times_a_second(
    charger: VirtualCharger, caplog: pytest.LogCaptureFixture, chip: str, fault: str
) -> None:
    run(charger, 1.0)
    caplog.set_level(logging.INFO)
    caplog.clear()
    getattr(charger.chips, chip).answering = False
    run(charger, 10.0)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"fault {fault}" in warnings[0].getMessage()
    caplog.clear()
    getattr(charger.chips, chip).answering = True
    run(charger, 10.0)
    back = [r.getMessage() for r in caplog.records if fault in r.getMessage()]
    assert back == [f"fault {fault} cleared"], back


def test_without_its_accelerometer_a_tilt_protected_charger_is_red_and_gives_no_energy(
    charger: VirtualCharger,
) -> None:
    charging(charger)
    charger.chips.accelerometer.answering = False
    run(charger, 1.0)
    assert not charger.station.board.contactor_closed
    assert charger.controller.machine.state is S.FAULTED
    assert led(charger) is LedColour.RED
    (fault,) = evse_status(charger.controller).faults
    assert (fault.kind, fault.ocpp_error_code, fault.vendor_error_code) == (
        "accelerometer",
        "OtherError",
        "ACCELEROMETER_MISSING",
    )
    assert charger.transactions.active(1) is None  # the session ended; no energy meanwhile
    charger.chips.accelerometer.answering = True
    run(charger, 1.0)
    assert evse_status(charger.controller).faults == ()
    assert charger.controller.machine.state is S.CONNECTED  # a new card starts a new session
    assert led(charger) is LedColour.YELLOW


def test_a_charger_tilted_while_its_accelerometer_was_gone_is_caught_when_it_is_back(
    charger: VirtualCharger,
) -> None:
    run(charger, 1.0)
    charger.chips.accelerometer.answering = False
    run(charger, 1.0)
    charger.chips.accelerometer.tilt(45)  # knocked over meanwhile
    charger.chips.accelerometer.answering = True
    run(charger, 1.0)
    # the rest position from before the loss still holds: no recalibration to the tilt
    assert FaultKind.TILT in charger.controller.faults.kinds
    assert FaultKind.ACCELEROMETER not in charger.controller.faults.kinds


def test_an_accelerometer_missing_at_start_is_a_fault_at_once(charger: VirtualCharger) -> None:
    charger.chips.accelerometer.answering = False
    asyncio.run(start_controller(charger.controller))
    assert FaultKind.ACCELEROMETER in charger.controller.faults.kinds


def test_a_missing_led_driver_is_a_warning_and_charging_goes_on(
    charger: VirtualCharger, caplog: pytest.LogCaptureFixture
) -> None:
    charging(charger)
    caplog.set_level(logging.INFO)
    caplog.clear()
    charger.chips.led.answering = False
    run(charger, 10.0)
    assert charger.station.board.contactor_closed
    assert charger.controller.machine.state is S.CHARGING
    status = evse_status(charger.controller)
    assert status.faults == ()
    (warning,) = status.warnings
    assert warning.kind == "led" and "LED" in warning.description
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    charger.chips.led.answering = True
    run(charger, 1.0)
    assert evse_status(charger.controller).warnings == ()
    assert led(charger) is LedColour.BLUE


def test_a_led_driver_that_vanishes_while_the_colour_stays_is_noticed(
    charger: VirtualCharger,
) -> None:
    run(charger, 1.0)
    charger.chips.led.answering = False
    run(charger, 10.0)  # green all along: nothing new to show, the refresh finds it gone
    assert [w.kind for w in evse_status(charger.controller).warnings] == ["led"]


def test_a_led_driver_missing_at_start_is_a_warning_at_once(charger: VirtualCharger) -> None:
    charger.chips.led.answering = False
    asyncio.run(start_controller(charger.controller))
    assert [w.kind for w in evse_status(charger.controller).warnings] == ["led"]
