"""The power board driver against the simulated board over Modbus RTU on loopback."""

from __future__ import annotations

import pytest
from modbus_harness import BOARD_UNIT, Rig, run_rig

from runtime.drivers import power_board_registers as reg
from runtime.hardware.errors import DeviceError, DeviceGarbage, DeviceTimeout
from runtime.hardware.protocols import PowerBoard
from runtime.hardware.types import CpState, PowerBoardInfo
from runtime.sim.car import CarFault
from runtime.sim.modbus_server import BusFault
from runtime.sim.power_board import SimPowerBoard
from runtime.sim.station import SimStation


def test_driver_satisfies_the_power_board_protocol() -> None:
    async def scenario(rig: Rig) -> None:
        board: PowerBoard = rig.board
        assert await board.probe() == PowerBoardInfo("VersineticEEL", "1.4", 0x00C0FFEE)

    run_rig(scenario)


def test_probe_of_another_device_names_vendor_and_address() -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(DeviceGarbage) as raised:
            await rig.board.probe()
        assert raised.value.where == rig.where_board
        assert "'AcmeEVSE'" in str(raised.value)

    run_rig(scenario, SimStation(board=SimPowerBoard(vendor_id="AcmeEVSE")))


def test_idle_board_reports_state_a_and_steady_plus_12_v() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.tick(0.02)
        status = await rig.board.read_status()
        assert status.cp_state is CpState.A
        assert (status.cp_high_mv, status.cp_low_mv) == (12_000, 12_000)
        assert status.pwm_duty_permille == 1000
        assert not status.contactor_closed
        assert not (status.rcm_dc_fault or status.diode_fault or status.relay_welded)
        assert status.temperature_c == 25.0
        assert status.heartbeat == 1

    run_rig(scenario)


def test_plugged_car_shows_state_b() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.car.plug_in()
        rig.station.tick(0.02)
        status = await rig.board.read_status()
        assert status.cp_state is CpState.B
        assert status.cp_high_mv == 9_000

    run_rig(scenario)


def test_pwm_then_contactor_makes_the_car_charge_at_the_offered_current() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.car.plug_in()
        await rig.board.set_pwm(267)  # 16.0 A
        rig.station.tick(0.02)
        status = await rig.board.read_status()
        assert status.cp_state is CpState.C
        assert (status.pwm_duty_permille, status.cp_low_mv) == (267, -12_000)
        await rig.board.set_contactor(True)
        rig.station.advance(rig.station.car.spec.reaction_time_s + 0.1)
        status = await rig.board.read_status()
        assert status.contactor_closed
        assert status.analog_clamp_currents_a == pytest.approx((16.0, 16.0, 16.0))

    run_rig(scenario)


def test_contactor_feedback_follows_the_command_after_its_actuation_delay() -> None:
    async def scenario(rig: Rig) -> None:
        await rig.board.set_contactor(True)
        rig.station.tick(0.01)
        assert not (await rig.board.read_status()).contactor_closed
        rig.station.tick(0.01)
        assert (await rig.board.read_status()).contactor_closed
        await rig.board.set_contactor(False)
        rig.station.advance(0.02, step_s=0.01)
        assert not (await rig.board.read_status()).contactor_closed

    run_rig(scenario)


@pytest.mark.parametrize("duty", [-1, 1, 50, 79, 971, 999, 1001, 65_536])
def test_undefined_pwm_duties_are_refused_before_the_bus(duty: int) -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(ValueError, match=r"Table A\.8"):
            await rig.board.set_pwm(duty)
        assert rig.station.board.duty_command == 1000

    run_rig(scenario)


@pytest.mark.parametrize("duty", [0, 80, 500, 970, 1000])
def test_defined_pwm_duties_reach_the_pilot(duty: int) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.board.set_pwm(duty)
        assert rig.station.board.pilot_duty_permille == duty

    run_rig(scenario)


def test_duty_zero_is_state_f() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.car.plug_in()
        await rig.board.set_pwm(0)
        rig.station.tick(0.02)
        status = await rig.board.read_status()
        assert (status.cp_state, status.cp_high_mv) == (CpState.F, -12_000)

    run_rig(scenario)


def test_clear_faults_clears_the_diode_fault_but_not_the_rcm_latch() -> None:
    async def scenario(rig: Rig) -> None:
        station = rig.station
        station.car.plug_in()
        station.car.misbehave(CarFault.DIODE)
        station.board.inject_rcm_fault()
        await rig.board.set_pwm(500)
        station.tick(0.02)
        status = await rig.board.read_status()
        assert status.diode_fault and status.rcm_dc_fault
        station.car.misbehave(CarFault.NONE)
        await rig.board.clear_faults()
        status = await rig.board.read_status()
        assert not status.diode_fault
        assert status.rcm_dc_fault
        station.board.power_cycle()
        assert not (await rig.board.read_status()).rcm_dc_fault

    run_rig(scenario)


def test_rcm_fault_opens_the_contactor_on_the_board_itself() -> None:
    async def scenario(rig: Rig) -> None:
        await rig.board.set_contactor(True)
        rig.station.advance(0.1)
        rig.station.board.inject_rcm_fault()
        rig.station.advance(0.1)
        status = await rig.board.read_status()
        assert status.rcm_dc_fault
        assert not status.contactor_closed

    run_rig(scenario)


def test_watchdog_opens_the_contactor_when_the_controller_goes_quiet() -> None:
    async def scenario(rig: Rig) -> None:
        await rig.board.set_watchdog(2)
        await rig.board.set_pwm(500)
        await rig.board.set_contactor(True)
        rig.station.advance(1.9)
        assert (await rig.board.read_status()).contactor_closed
        rig.station.advance(0.2)
        status = await rig.board.read_status()
        assert not status.contactor_closed
        assert status.pwm_duty_permille == 1000

    run_rig(scenario)


def test_the_watchdog_setting_reads_back_until_the_board_is_power_cycled() -> None:
    async def scenario(rig: Rig) -> None:
        assert await rig.board.read_watchdog() == 0  # power-up default: off
        await rig.board.set_watchdog(3)
        rig.station.advance(5.0)  # tripping keeps the setting
        assert await rig.board.read_watchdog() == 3
        rig.station.board.power_cycle()
        assert await rig.board.read_watchdog() == 0

    run_rig(scenario)


def test_welded_relay_stays_closed_and_is_reported() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.board.weld_relay()
        await rig.board.set_contactor(True)
        rig.station.advance(0.1)
        await rig.board.set_contactor(False)
        rig.station.advance(0.1)
        status = await rig.board.read_status()
        assert status.contactor_closed
        assert status.relay_welded

    run_rig(scenario)


def test_temperature_out_of_range_is_garbage() -> None:
    async def scenario(rig: Rig) -> None:
        rig.station.board.temperature_c = 151.0
        with pytest.raises(DeviceGarbage, match=r"temperature register 22 reads 151\.0"):
            await rig.board.read_status()

    run_rig(scenario)


_EXPECTED: dict[BusFault, tuple[type[DeviceError], str]] = {
    BusFault.EXCEPTION: (DeviceGarbage, "exception response 4"),
    BusFault.WRONG_LENGTH: (DeviceGarbage, "asked for 11 register(s), got 10"),
    BusFault.GARBAGE: (DeviceGarbage, "CP state register 16 holds 65535"),
    BusFault.SILENT: (DeviceTimeout, "no reply within"),
    BusFault.BAD_CRC: (DeviceGarbage, "CRC or framing error"),
}


@pytest.mark.parametrize("fault", list(_EXPECTED))
def test_every_bus_fault_is_a_typed_error_naming_board_and_address(fault: BusFault) -> None:
    error_type, text = _EXPECTED[fault]

    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(BOARD_UNIT, fault)
        with pytest.raises(DeviceError) as raised:
            await rig.board.read_status()
        assert type(raised.value) is error_type
        assert raised.value.device == "EVSE power board"
        assert raised.value.where == rig.where_board
        assert text in raised.value.problem
        rig.server.set_fault(BOARD_UNIT, BusFault.NONE)
        assert (await rig.board.probe()).vendor_id == reg.VENDOR_ID

    run_rig(scenario)


@pytest.mark.parametrize("fault", [f for f in _EXPECTED if f is not BusFault.WRONG_LENGTH])
def test_commands_to_a_faulty_board_fail_with_a_device_error(fault: BusFault) -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(BOARD_UNIT, fault)
        with pytest.raises(DeviceError) as raised:
            await rig.board.set_contactor(False)
        assert raised.value.where == rig.where_board

    run_rig(scenario)
