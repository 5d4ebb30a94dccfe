"""The power board driver and the simulated board, each against docs/power-board-registers.md.

The fixture tests/fixtures/datasheets/power_board.json records register images and command
writes from that document; the driver must decode and send exactly those, and the simulated
board must answer with exactly those words in the same situation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from runtime.drivers.power_board import ModbusPowerBoard
from runtime.hardware.types import CpState, PowerBoardInfo, PowerBoardStatus
from runtime.sim.local_modbus import LocalModbusBus
from runtime.sim.power_board import SimPowerBoard
from runtime.sim.register_device import IllegalValue
from tests.fixtures.datasheet import RecordedRegisters, load, number

SHEET = load("power_board")
UNIT = 1
STATUS = {example["name"]: example for example in SHEET["status"]}
REGISTER = {command["call"]: command["register"] for command in SHEET["commands"]}
PWM, CONTACTOR = REGISTER["set_pwm"], REGISTER["set_contactor"]


def words(values: list[str]) -> list[int]:
    return [number(value) for value in values]


def recorded_board(status_words: list[int]) -> RecordedRegisters:
    identification = SHEET["identification"]
    image = dict(enumerate(words(identification["words"])))
    reserved = SHEET["reserved"]
    image.update(
        zip(
            range(reserved["address"], reserved["address"] + reserved["count"]),
            words(reserved["words"]),
            strict=True,
        )
    )
    image.update(enumerate(status_words, start=SHEET["status"][0]["address"]))
    holding = SHEET["holding_after_power_up"]
    return RecordedRegisters(
        image, dict(enumerate(words(holding["words"]), start=holding["address"]))
    )


def expected_status(decoded: dict[str, Any]) -> PowerBoardStatus:
    return PowerBoardStatus(
        **{
            **decoded,
            "cp_state": CpState(decoded["cp_state"]),
            "analog_clamp_currents_a": tuple(decoded["analog_clamp_currents_a"]),
        }
    )


# ----- the driver ------------------------------------------------------------------------------
def test_driver_probe_reads_the_documented_identification_registers() -> None:
    device = recorded_board(words(SHEET["status"][0]["words"]))
    board = ModbusPowerBoard(LocalModbusBus({UNIT: device}), UNIT)
    info = asyncio.run(board.probe())
    identification = SHEET["identification"]
    assert info == PowerBoardInfo(
        identification["vendor_id"],
        identification["firmware_version"],
        identification["serial_number"],
    )
    assert device.reads == [(4, identification["address"], identification["count"])]


@pytest.mark.parametrize("name", STATUS)
def test_driver_decodes_the_documented_status_registers(name: str) -> None:
    example = STATUS[name]
    device = recorded_board(words(example["words"]))
    board = ModbusPowerBoard(LocalModbusBus({UNIT: device}), UNIT)
    assert asyncio.run(board.read_status()) == expected_status(example["decoded"])
    assert device.reads == [(example["function"], example["address"], example["count"])]


@pytest.mark.parametrize("command", SHEET["commands"], ids=lambda c: f"{c['call']}-{c['argument']}")
def test_driver_writes_each_command_to_its_documented_register(command: dict[str, Any]) -> None:
    device = recorded_board(words(SHEET["status"][0]["words"]))
    board = ModbusPowerBoard(LocalModbusBus({UNIT: device}), UNIT)
    method: Callable[..., Any] = getattr(board, command["call"])
    arguments = [] if command["argument"] is None else [command["argument"]]
    asyncio.run(method(*arguments))
    assert device.writes == [(command["register"], [number(command["value"])])]


# ----- the simulated board ---------------------------------------------------------------------
def sim_charging_in_c() -> SimPowerBoard:
    board = SimPowerBoard(contactor_delay_s=0.02)
    board.temperature_c = 25.3
    board.clamp_currents_a = (16.0, 16.0, 16.0)
    board.connect_pilot(CpState.C)
    board.write_holding_registers(PWM, [533])
    board.write_holding_registers(CONTACTOR, [1])
    for _ in range(42):
        board.tick(0.01)
    return board


def sim_state_f_with_latched_faults() -> SimPowerBoard:
    board = SimPowerBoard()
    board.temperature_c = -2.0
    board.connect_pilot(CpState.B, diode_ok=False)
    board.write_holding_registers(PWM, [533])
    board.tick(0.01)  # PWM on without the car's diode: the diode fault latches
    board.inject_rcm_fault()
    board.write_holding_registers(PWM, [0])
    for _ in range(6):
        board.tick(0.01)
    return board


def sim_welded_in_b() -> SimPowerBoard:
    board = SimPowerBoard(contactor_delay_s=0.02)
    board.temperature_c = 45.0
    board.connect_pilot(CpState.B)
    board.weld_relay()
    board.write_holding_registers(CONTACTOR, [1])
    for _ in range(4):
        board.tick(0.01)
    board.write_holding_registers(CONTACTOR, [0])
    for _ in range(5):
        board.tick(0.01)
    return board


SIM_SITUATIONS: dict[str, Callable[[], SimPowerBoard]] = dict(
    zip(STATUS, (sim_charging_in_c, sim_state_f_with_latched_faults, sim_welded_in_b), strict=True)
)


def test_simulator_identifies_itself_with_the_documented_words() -> None:
    identification = SHEET["identification"]
    board = SimPowerBoard(
        serial_number=identification["serial_number"],
        firmware_version=identification["firmware_version"],
    )
    read = board.read_input_registers(identification["address"], identification["count"])
    assert read == words(identification["words"])
    reserved = SHEET["reserved"]
    assert board.read_input_registers(reserved["address"], reserved["count"]) == words(
        reserved["words"]
    )


@pytest.mark.parametrize("name", STATUS)
def test_simulator_reports_the_documented_status_words(name: str) -> None:
    example = STATUS[name]
    board = SIM_SITUATIONS[name]()
    read = board.read_input_registers(example["address"], example["count"])
    assert [f"0x{word:04X}" for word in read] == example["words"]


def test_simulator_powers_up_with_the_documented_holding_registers() -> None:
    holding = SHEET["holding_after_power_up"]
    board = SimPowerBoard()
    read = board.read_holding_registers(holding["address"], holding["count"])
    assert read == words(holding["words"])


@pytest.mark.parametrize("command", SHEET["commands"], ids=lambda c: f"{c['call']}-{c['argument']}")
def test_simulator_accepts_each_documented_command(command: dict[str, Any]) -> None:
    board = SimPowerBoard()
    board.write_holding_registers(command["register"], [number(command["value"])])
    shown = board.read_holding_registers(command["register"], 1)
    reads_back = 0 if command["call"] == "clear_faults" else number(command["value"])
    assert shown == [reads_back]


@pytest.mark.parametrize("write", SHEET["refused_writes"], ids=lambda w: w["why"])
def test_simulator_refuses_each_documented_bad_value(write: dict[str, Any]) -> None:
    board = SimPowerBoard()
    before = board.read_holding_registers(PWM, 4)
    with pytest.raises(IllegalValue):
        board.write_holding_registers(write["register"], [number(write["value"])])
    assert board.read_holding_registers(PWM, 4) == before


def test_simulator_watchdog_drops_the_outputs_as_documented() -> None:
    watchdog = SHEET["watchdog"]
    outputs = watchdog["outputs"]
    board = SimPowerBoard(contactor_delay_s=0.02)
    board.connect_pilot(CpState.C)
    board.write_holding_registers(watchdog["register"], [watchdog["timeout_s"]])
    board.write_holding_registers(PWM, [533])
    board.write_holding_registers(CONTACTOR, [1])
    step_s = 0.05
    for _ in range(round(watchdog["timeout_s"] / step_s) - 2):
        board.tick(step_s)
    fed = board.read_input_registers(outputs["address"], outputs["count"])
    assert fed == words(watchdog["while_fed"])
    for _ in range(4):
        board.tick(step_s)
    silent = board.read_input_registers(outputs["address"], outputs["count"])
    assert silent == words(watchdog["after_silence"])


def test_simulator_heartbeat_steps_once_per_board_cycle_and_wraps() -> None:
    heartbeat = SHEET["heartbeat"]
    board = SimPowerBoard()
    before = board.read_input_registers(heartbeat["register"], 1)[0]
    board.tick(0.01)
    after = board.read_input_registers(heartbeat["register"], 1)[0]
    assert after - before == heartbeat["step_per_board_cycle"]
    last, first = words(heartbeat["wraps"])
    board.heartbeat = last
    board.tick(0.01)
    assert board.read_input_registers(heartbeat["register"], 1) == [first]
