"""The simulated power board's physics and register rules (model level, no bus)."""

from __future__ import annotations

import pytest

from runtime.drivers import power_board_registers as reg
from runtime.hardware.types import CpState
from runtime.sim.power_board import SimPowerBoard
from runtime.sim.register_device import IllegalAddress, IllegalValue


def test_contactor_closes_after_its_actuation_delay() -> None:
    board = SimPowerBoard(contactor_delay_s=0.02)
    board.write_holding_registers(reg.HR_CONTACTOR, [1])
    board.tick(0.01)
    assert not board.contactor_closed
    board.tick(0.01)
    assert board.contactor_closed


def test_rcm_latch_survives_clear_and_goes_only_with_a_power_cycle() -> None:
    board = SimPowerBoard()
    board.write_holding_registers(reg.HR_CONTACTOR, [1])
    board.tick(0.05)
    board.inject_rcm_fault()
    board.tick(0.05)
    assert not board.contactor_closed
    board.write_holding_registers(reg.HR_CLEAR_FAULTS, [reg.CLEAR_FAULTS_MAGIC])
    assert board.status().rcm_dc_fault
    board.power_cycle()
    assert not board.status().rcm_dc_fault
    assert board.duty_command == 1000 and not board.contactor_command


def test_diode_fault_latches_while_pwm_is_on_and_clears_on_request() -> None:
    board = SimPowerBoard()
    board.connect_pilot(CpState.C, diode_ok=False)
    board.write_holding_registers(reg.HR_PWM_DUTY, [500])
    board.tick(0.02)
    status = board.status()
    assert status.diode_fault
    assert status.cp_low_mv == -6_000
    board.connect_pilot(CpState.C, diode_ok=True)
    board.write_holding_registers(reg.HR_CLEAR_FAULTS, [reg.CLEAR_FAULTS_MAGIC])
    assert not board.status().diode_fault


@pytest.mark.parametrize(
    ("car", "duty", "state", "high_mv", "low_mv"),
    [
        (CpState.A, 1000, CpState.A, 12_000, 12_000),
        (CpState.B, 1000, CpState.B, 9_000, 9_000),
        (CpState.C, 500, CpState.C, 6_000, -12_000),
        (CpState.D, 500, CpState.D, 3_000, -12_000),
        (CpState.E, 500, CpState.E, 0, 0),
        (CpState.B, 0, CpState.F, -12_000, -12_000),
    ],
)
def test_pilot_levels_follow_iec_61851_table_a4(
    car: CpState, duty: int, state: CpState, high_mv: int, low_mv: int
) -> None:
    board = SimPowerBoard()
    board.connect_pilot(car)
    board.write_holding_registers(reg.HR_PWM_DUTY, [duty])
    status = board.status()
    assert (status.cp_state, status.cp_high_mv, status.cp_low_mv) == (state, high_mv, low_mv)


def test_watchdog_trips_without_writes_and_any_write_feeds_it() -> None:
    board = SimPowerBoard()
    board.write_holding_registers(reg.HR_PWM_DUTY, [500, 1, reg.CLEAR_FAULTS_MAGIC, 1])
    board.tick(0.9)
    board.write_holding_registers(reg.HR_CONTACTOR, [1])
    board.tick(0.9)
    assert not board.watchdog_tripped and board.contactor_closed
    board.tick(0.2)
    assert board.watchdog_tripped
    assert (board.duty_command, board.contactor_command) == (1000, False)


def test_heartbeat_counts_ticks_and_wraps() -> None:
    board = SimPowerBoard()
    board.heartbeat = 0xFFFF
    board.tick(0.02)
    assert board.status().heartbeat == 0


@pytest.mark.parametrize(
    ("register", "value"),
    [
        (reg.HR_PWM_DUTY, 50),
        (reg.HR_PWM_DUTY, 1001),
        (reg.HR_CONTACTOR, 2),
        (reg.HR_CLEAR_FAULTS, 1),
    ],
)
def test_undefined_commands_are_illegal_values_and_change_nothing(
    register: int, value: int
) -> None:
    board = SimPowerBoard()
    with pytest.raises(IllegalValue):
        board.write_holding_registers(register, [value])
    assert board.read_holding_registers(reg.HOLDING_FIRST, reg.HOLDING_COUNT) == [1000, 0, 0, 0]


def test_a_multi_register_write_is_all_or_nothing() -> None:
    board = SimPowerBoard()
    with pytest.raises(IllegalValue):
        board.write_holding_registers(reg.HR_PWM_DUTY, [500, 7])
    assert board.read_holding_registers(reg.HR_PWM_DUTY, 2) == [1000, 0]


@pytest.mark.parametrize(("address", "count"), [(26, 2), (27, 1), (99, 1)])
def test_input_registers_outside_the_map_are_illegal_addresses(address: int, count: int) -> None:
    with pytest.raises(IllegalAddress):
        SimPowerBoard().read_input_registers(address, count)


def test_reserved_registers_read_zero() -> None:
    assert SimPowerBoard().read_input_registers(11, 5) == [0] * 5


def test_welded_contactor_stays_closed_through_a_power_cycle() -> None:
    board = SimPowerBoard()
    board.weld_relay()
    board.write_holding_registers(reg.HR_CONTACTOR, [1])
    board.tick(0.05)
    board.power_cycle()
    board.tick(0.05)
    assert board.contactor_closed
    assert board.status().relay_welded


def test_a_hung_board_freezes_heartbeat_and_measurements_but_still_obeys_writes() -> None:
    board = SimPowerBoard()
    board.connect_pilot(CpState.C)
    board.write_holding_registers(reg.HR_PWM_DUTY, [500, 1])
    board.tick(0.05)
    board.hang()
    frozen = board.status()
    board.connect_pilot(CpState.B)
    board.write_holding_registers(reg.HR_CONTACTOR, [0])
    board.tick(0.05)
    assert board.status() == frozen  # heartbeat, CP and contactor feedback stand still
    assert not board.contactor_closed  # the output stage still followed the write
    board.resume()
    board.tick(0.02)
    assert board.status().heartbeat != frozen.heartbeat
    assert board.status().cp_state is CpState.B
