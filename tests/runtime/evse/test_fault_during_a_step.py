"""A fault found while a control step runs its effects acts in that same step.

The start of a session reads the kWh meter for its start value. When that read is the one that
finds the meter gone, the contactor must not close on that step's outputs: no billing data, no
energy (manual 5.4), not even for one poll. Found by the invariant run
(`test_invariants.py`): a car already asking in C whose session started while the meter fell
silent got the contactor closed for one poll with the meter fault already raised.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.config.loader import load_profile
from runtime.evse.controller import METER_PERIOD_S, POLL_PERIOD_S
from runtime.evse.faults import FaultKind
from runtime.evse.states import EvseState
from runtime.sim.car import CarSpec
from schemas import Profile
from tests.runtime.evse.virtual_rig import VirtualCharger

REPO = Path(__file__).resolve().parents[3]
SIMULATED = load_profile(REPO / "profiles" / "simulated.yaml").profile
CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20, reaction_time_s=0.3)
METER_UNIT = SIMULATED.metering.internal_meter.modbus_address
# Hangs of the board spread over two meter periods, so some end on the poll where the new
# session's start read is the meter's third miss in a row.
HANGS_S = [round(0.2 + step * POLL_PERIOD_S, 2) for step in range(int(2 * METER_PERIOD_S / 0.05))]


def plug_and_charge() -> Profile:
    authorization = SIMULATED.authorization.model_copy(
        update={"default_id_tag_mode": "default_id_tag"}
    )
    return SIMULATED.model_copy(update={"authorization": authorization})


class WatchedCharger(VirtualCharger):
    """Records every control step in which the contactor was commanded closed with a fault."""

    closed_with_fault: list[str]

    def after_step(self) -> None:
        controller = self.controller
        if controller.governor.outputs.contactor_closed and controller.faults.kinds:
            self.closed_with_fault.append(f"{self.time.seconds:.2f} s: {controller.faults.kinds}")


@pytest.mark.parametrize("hang_s", HANGS_S)
def test_a_meter_lost_by_the_read_that_starts_a_session_never_lets_the_contactor_close(
    tmp_path: Path, hang_s: float
) -> None:
    # Plug & charge opens a new session once a self-clearing fault is gone, with the car still
    # asking in C: the session's start read and the contactor's closing fall in one step.
    charger = WatchedCharger(plug_and_charge(), tmp_path / "chargeos.db", CAR)
    charger.closed_with_fault = []
    board = charger.station.board
    try:
        charger.station.car.plug_in()
        asyncio.run(charger.advance(2.0))
        assert board.contactor_closed
        charger.bus.silent.add(METER_UNIT)
        board.hang()
        asyncio.run(charger.advance(hang_s))
        board.resume()
        asyncio.run(charger.advance(4 * METER_PERIOD_S))
        assert charger.closed_with_fault == []
        assert not board.contactor_closed
        assert charger.controller.machine.state is EvseState.FAULTED
        assert FaultKind.METER in charger.controller.faults.kinds
        assert charger.transactions.active(1) is None  # nothing left open without a meter
    finally:
        charger.close()
