"""Safety invariants under random sequences of everything an owner, a car or a fault can do.

Hypothesis drives plug (a car asking in C, or in D for ventilation), unplug, cards, a full car,
faults, a hung power board, limits, I2C chips that vanish and come back, a data partition that
fills up and is freed (a real tmpfs), and time against the whole charger on virtual time (real
drivers, simulated devices), with and without ventilation, by card or by plug & charge. After
every control cycle: the contactor is closed only with an authorized transaction whose active
row reads back from the database, no fault and the car asking in C (or in D with ventilation),
never once the accelerometer of a tilt-protected charger has been gone for ACCELEROMETER_GONE_S,
nor on a board hung for longer than it takes to notice; a transaction is opened only for a car
on the cable; the offered current never exceeds the charger limit or the external limit in force
and is never between 0 and 6 A.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from runtime.config.loader import load_profile
from runtime.evse.commands import Commands
from runtime.evse.iec61851 import MIN_CURRENT_A, requests_energy
from runtime.evse.liveness import BOARD_HUNG_AFTER
from runtime.sim.car import CarFault, CarSpec
from schemas import Profile
from tests.runtime.evse.virtual_rig import VirtualCharger
from tests.runtime.full_disk import small_data_partition
from tests.soak import rounds

REPO = Path(__file__).resolve().parents[3]
PROFILE = load_profile(REPO / "profiles" / "simulated.yaml").profile


def profile_with(*, ventilated: bool, plug_and_charge: bool) -> Profile:
    """The simulated profile with or without ventilation, by card or by plug & charge."""
    electrical = PROFILE.electrical.model_copy(update={"ventilation_available": ventilated})
    mode = "default_id_tag" if plug_and_charge else "authorisation_required"
    authorization = PROFILE.authorization.model_copy(update={"default_id_tag_mode": mode})
    return PROFILE.model_copy(update={"electrical": electrical, "authorization": authorization})


CARDS = st.sampled_from(["FB433810", "04A2B3C4D5E6F7", "DEADBEEF"])
CAR = CarSpec(phases=3, max_current_a=32, capacity_kwh=0.05, reaction_time_s=1.0)
# Lost after ACCELEROMETER_MISSING_AFTER samples 100 ms apart, then one control step to open.
ACCELEROMETER_GONE_S = 0.5
I2C_CHIPS = st.sampled_from(["accelerometer", "led", "rfid"])


class CheckedCharger(VirtualCharger):
    """Checks the invariants after every single control cycle, not only between rules."""

    violations: list[str]
    accelerometer_gone_at: float | None = None
    opened: set[int]
    hung_polls = 0
    external_limit_a: float | None = None  # the backoffice/balancing limit the rules last set

    def after_step(self) -> None:
        controller = self.controller
        gone_at = self.accelerometer_gone_at
        if (
            gone_at is not None
            and self.time.seconds - gone_at >= ACCELEROMETER_GONE_S
            and controller.governor.outputs.contactor_closed
        ):
            self.violations.append("contactor closed without the tilt/bump sensor")
        active = controller.sessions.active
        if active is not None and active.transaction_id not in self.opened:
            self.opened.add(active.transaction_id)
            if not self.station.car.plugged:
                self.violations.append(f"transaction {active.transaction_id} with no car plugged")
        outputs = controller.governor.outputs
        limit = float(self.profile.electrical.effective_limit_a)
        if self.external_limit_a is not None:
            limit = min(limit, self.external_limit_a)
        offered = outputs.offered_current_a
        if offered > limit + 1e-9 or 0 < offered < MIN_CURRENT_A:
            self.violations.append(f"offered {offered} A (limit {limit} A)")
        if outputs.contactor_closed:
            active, row = controller.sessions.active, self.transactions.active(1)
            if active is None:
                self.violations.append("contactor closed without an authorized transaction")
            if row is None or (active is not None and row.transaction_id != active.transaction_id):
                self.violations.append(f"contactor closed with no active row (row {row})")
            cp = controller.board.cp_state if controller.board is not None else None
            ventilation = self.profile.electrical.ventilation_available
            if cp is None or not requests_energy(cp, ventilation_available=ventilation):
                self.violations.append(f"contactor closed with CP {cp} (ventilation {ventilation})")
            if controller.faults.kinds:
                self.violations.append(f"contactor closed with faults {controller.faults.kinds}")
        board = self.station.board
        self.hung_polls = self.hung_polls + 1 if board.hung else 0
        if self.hung_polls > BOARD_HUNG_AFTER + 1 and board.contactor_command:
            self.violations.append("a hung board still commanded to close the contactor")


class ChargerUse(RuleBasedStateMachine):
    """Random use of the charger."""

    @initialize(ventilated=st.booleans(), plug_and_charge=st.booleans())
    def power_up(self, ventilated: bool, plug_and_charge: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.cleanup = contextlib.ExitStack()
        directory = Path(self.cleanup.enter_context(tempfile.TemporaryDirectory()))
        self.partition = self.cleanup.enter_context(small_data_partition(directory / "data"))
        profile = profile_with(ventilated=ventilated, plug_and_charge=plug_and_charge)
        self.charger = CheckedCharger(profile, self.partition.mount_point / "db.sqlite", CAR)
        self.cleanup.callback(self.charger.close)
        self.charger.violations = []
        self.charger.opened = set()
        self.commands = Commands(self.charger.controller, asyncio.Event())
        self.run(self.charger.advance(0.2))

    def run(self, coroutine: object) -> None:
        self.loop.run_until_complete(coroutine)  # type: ignore[arg-type]

    def teardown(self) -> None:
        if hasattr(self, "cleanup"):
            self.cleanup.close()
            self.loop.close()

    @rule(ventilation=st.booleans())
    def plug(self, ventilation: bool) -> None:
        self.charger.station.car.plug_in(ventilation=ventilation)
        self.run(self.charger.advance(0.3))

    @rule()
    def unplug(self) -> None:
        self.charger.station.car.unplug()
        self.run(self.charger.advance(0.3))

    @rule(uid=CARDS)
    def card(self, uid: str) -> None:
        self.charger.chips.rfid.present_card(uid)
        self.run(self.charger.advance(0.4))
        self.charger.chips.rfid.remove_card()
        self.run(self.charger.advance(0.3))

    @rule()
    def car_full(self) -> None:
        if self.charger.station.car.plugged:
            self.charger.station.car.become_full()
        self.run(self.charger.advance(0.3))

    @rule(fault=st.sampled_from(["rcm", "cp", "overcurrent", "temp", "tilt", "weld"]))
    def fault(self, fault: str) -> None:
        station, chips = self.charger.station, self.charger.chips
        if fault == "rcm":
            station.board.inject_rcm_fault()
        elif fault == "cp":
            station.car.misbehave(CarFault.CP_SHORT)
        elif fault == "overcurrent":
            station.car.misbehave(CarFault.OVERCURRENT)
        elif fault == "temp":
            station.board.temperature_c = 95.0
        elif fault == "tilt":
            chips.accelerometer.tilt(60)
        else:
            station.board.weld_relay()
        self.run(self.charger.advance(0.5))

    @rule()
    def clear(self) -> None:
        station = self.charger.station
        station.car.misbehave(CarFault.NONE)
        station.board.temperature_c = 25.0
        self.charger.chips.accelerometer.tilt(0)
        self.run(self.commands.clear_faults())
        self.run(self.charger.advance(0.3))

    @rule(meter_silent=st.booleans())
    def meter(self, meter_silent: bool) -> None:
        unit = PROFILE.metering.internal_meter.modbus_address
        if meter_silent:
            self.charger.bus.silent.add(unit)
        else:
            self.charger.bus.silent.discard(unit)
        self.run(self.charger.advance(0.5))

    @rule(chip=I2C_CHIPS, answering=st.booleans())
    def i2c_chip(self, chip: str, answering: bool) -> None:
        charger = self.charger
        getattr(charger.chips, chip).answering = answering
        if chip == "accelerometer":
            gone = None if answering else charger.accelerometer_gone_at or charger.time.seconds
            charger.accelerometer_gone_at = gone
        self.run(charger.advance(0.5))

    @rule(full=st.booleans())
    def storage(self, full: bool) -> None:
        if full:
            self.partition.fill()
        else:
            self.partition.free()
        self.run(self.charger.advance(0.5))

    @rule(hung=st.booleans())
    def board_hang(self, hung: bool) -> None:
        board = self.charger.station.board
        if hung:
            board.hang()  # heartbeat and measurements freeze; writes still reach the outputs
        else:
            board.resume()
        self.run(self.charger.advance(0.5))

    @rule(limit=st.one_of(st.none(), st.floats(0, 80, allow_nan=False)))
    def external_limit(self, limit: float | None) -> None:
        self.run(self.commands.set_current_limit(limit, None))
        self.charger.external_limit_a = limit
        self.run(self.charger.advance(0.3))

    @rule(seconds=st.sampled_from([0.1, 1.0, 3.0, 6.5]))
    def wait(self, seconds: float) -> None:
        self.run(self.charger.advance(seconds))

    @invariant()
    def no_violation(self) -> None:
        if hasattr(self, "charger"):
            assert self.charger.violations == [], self.charger.violations[:5]


# 1000 sequences of up to 12 steps in `make test`, 10000 under `make soak`; the variable
# overrides both for a local run.
EXAMPLES = int(os.environ.get("CHARGEOS_INVARIANT_EXAMPLES", rounds(1000, 10000)))
ChargerUse.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_charger_is_always_safe = pytest.mark.soak(pytest.mark.slow(ChargerUse.TestCase))
