"""The Modbus bus wrapper against the simulated bus: requests, typed errors, recovery."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest
from modbus_harness import BOARD_UNIT, METER_UNIT, TEST_TIMEOUT_S, Rig, run_rig
from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient

from runtime.drivers import power_board_registers as reg
from runtime.drivers.modbus import ModbusBus
from runtime.hardware.errors import DeviceError, DeviceGarbage, DeviceTimeout
from runtime.sim.modbus_server import LOOPBACK, BusFault
from schemas.hardware import SerialBus


def test_reads_and_writes_reach_the_simulated_device() -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bus.write_registers(BOARD_UNIT, reg.HR_PWM_DUTY, [500, 1], device="board")
        assert rig.station.board.duty_command == 500
        assert rig.station.board.contactor_command
        await rig.bus.write_register(BOARD_UNIT, reg.HR_WATCHDOG_S, 10, device="board")
        words = await rig.bus.read_holding_registers(BOARD_UNIT, reg.HR_PWM_DUTY, 4)
        assert words == [500, 1, 0, 10]
        vendor = await rig.bus.read_input_registers(BOARD_UNIT, 0, 2)
        assert vendor == [ord("V") << 8 | ord("e"), ord("r") << 8 | ord("s")]

    run_rig(scenario)


def test_unit_nobody_serves_times_out_naming_bus_and_unit() -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(DeviceTimeout) as raised:
            await rig.bus.read_input_registers(9, 0, 2, device="digital CT clamps")
        port = rig.server.port()
        assert str(raised.value).startswith(
            f"digital CT clamps at sim tcp {LOOPBACK}:{port} unit 9: FC04 at register 0"
        )
        assert f"no reply within {TEST_TIMEOUT_S:g} s" in str(raised.value)

    run_rig(scenario)


def test_register_outside_the_map_is_an_exception_response() -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(DeviceGarbage, match=r"exception response 2 \(illegal data address\)"):
            await rig.bus.read_input_registers(BOARD_UNIT, 20, 10, device="EVSE power board")

    run_rig(scenario)


def test_refused_value_is_an_exception_response() -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(DeviceGarbage, match=r"exception response 3 \(illegal data value\)"):
            await rig.bus.write_register(BOARD_UNIT, reg.HR_PWM_DUTY, 50)
        assert rig.station.board.duty_command == reg.PWM_STEADY_HIGH

    run_rig(scenario)


def test_corrupted_crc_is_garbage_not_a_timeout() -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(BOARD_UNIT, BusFault.BAD_CRC)
        with pytest.raises(DeviceGarbage, match="CRC or framing error"):
            await rig.bus.read_input_registers(BOARD_UNIT, 0, 2)

    run_rig(scenario)


def test_bus_recovers_once_a_silent_device_answers_again() -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(METER_UNIT, BusFault.SILENT)
        for _ in range(3):
            with pytest.raises(DeviceTimeout):
                await rig.bus.read_holding_registers(METER_UNIT, 0xFC00, 2)
        assert await rig.bus.read_input_registers(BOARD_UNIT, 0, 1) == [0x5665]
        rig.server.set_fault(METER_UNIT, BusFault.NONE)
        assert len(await rig.bus.read_holding_registers(METER_UNIT, 0xFC00, 2)) == 2

    run_rig(scenario)


def test_concurrent_requests_take_turns_on_the_bus() -> None:
    async def scenario(rig: Rig) -> None:
        reads = [rig.bus.read_input_registers(BOARD_UNIT, address, 1) for address in range(8)]
        reads += [rig.bus.read_holding_registers(METER_UNIT, 0xFC00, 2) for _ in range(8)]
        replies = await asyncio.gather(*reads)
        assert [len(words) for words in replies] == [1] * 8 + [2] * 8
        assert replies[0] == [0x5665]

    run_rig(scenario)


@pytest.mark.parametrize(
    ("unit", "address", "count"),
    [(0, 0, 1), (248, 0, 1), (1, -1, 1), (1, 0, 0), (1, 0, 126), (1, 0xFFFF, 2)],
)
def test_impossible_requests_are_programming_errors(unit: int, address: int, count: int) -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(ValueError, match="outside"):
            await rig.bus.read_input_registers(unit, address, count)

    run_rig(scenario)


def test_register_values_must_fit_sixteen_bits() -> None:
    async def scenario(rig: Rig) -> None:
        with pytest.raises(ValueError, match=r"0\.\.65535"):
            await rig.bus.write_registers(BOARD_UNIT, reg.HR_PWM_DUTY, [1000, 70_000])

    run_rig(scenario)


def test_missing_serial_port_is_a_timeout_naming_the_port() -> None:
    async def scenario() -> None:
        bus = ModbusBus.serial(SerialBus(port="/dev/ttyChargeOSMissing0", timeout_s=0.05))
        with pytest.raises(DeviceTimeout) as raised:
            await bus.read_input_registers(1, 0, 2, device="EVSE power board")
        assert raised.value.where == "internal RS485 /dev/ttyChargeOSMissing0 unit 1"
        await bus.close()

    asyncio.run(scenario())


def test_rtu_over_a_serial_port_reaches_the_simulated_board() -> None:
    """A pty stands in for the RS485 adapter; a bridge carries its bytes to the simulated bus."""

    async def scenario(rig: Rig) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        reader, writer = await asyncio.open_connection(LOOPBACK, rig.server.port())
        loop = asyncio.get_running_loop()
        loop.add_reader(master, lambda: writer.write(os.read(master, 512)))

        async def downstream() -> None:
            while data := await reader.read(512):
                os.write(master, data)

        pump = asyncio.create_task(downstream())
        bus = ModbusBus.serial(SerialBus(port=os.ttyname(slave), baudrate=115200), name="internal")
        try:
            words = await bus.read_input_registers(BOARD_UNIT, reg.IR_FIRMWARE_VERSION, 1)
            assert words == [0x0104]
        finally:
            await bus.close()
            loop.remove_reader(master)
            pump.cancel()
            writer.close()
            os.close(master)
            os.close(slave)

    run_rig(scenario)


def test_device_errors_carry_device_and_address_fields() -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(BOARD_UNIT, BusFault.EXCEPTION)
        with pytest.raises(DeviceError) as raised:
            await rig.bus.read_input_registers(BOARD_UNIT, 0, 1, device="EVSE power board")
        assert raised.value.device == "EVSE power board"
        assert raised.value.where == rig.where_board

    run_rig(scenario)


def test_coils_are_an_illegal_function_on_the_simulated_devices() -> None:
    async def scenario(rig: Rig) -> None:
        port = rig.server.port()
        client = AsyncModbusTcpClient(LOOPBACK, port=port, framer=FramerType.RTU, timeout=1)
        await client.connect()
        reply = await client.read_coils(0, count=1, device_id=BOARD_UNIT)
        client.close()
        assert reply.isError()
        assert reply.exception_code == 1

    run_rig(scenario)


def test_a_flaky_device_loses_or_garbles_every_other_reply_never_two_in_a_row() -> None:
    async def scenario(rig: Rig) -> None:
        rig.server.set_fault(METER_UNIT, BusFault.FLAKY)
        outcomes = []
        for _ in range(8):
            try:
                await rig.bus.read_input_registers(METER_UNIT, 0, 2, device="meter")
                outcomes.append("ok")
            except DeviceTimeout:
                outcomes.append("lost")
            except DeviceGarbage:
                outcomes.append("garbled")
        assert outcomes == ["ok", "lost", "ok", "garbled"] * 2

    run_rig(scenario)


def test_an_urgent_unit_overtakes_requests_already_waiting_for_the_bus() -> None:
    async def scenario(rig: Rig) -> None:
        rig.bus.set_unit_timing(BOARD_UNIT, urgent=True)
        order: list[str] = []

        async def read(unit: int, name: str) -> None:
            await rig.bus.read_input_registers(unit, 0, 2, device=name)
            order.append(name)

        first = asyncio.create_task(read(METER_UNIT, "meter 1"))
        await asyncio.sleep(0)  # meter 1 holds the bus now
        waiting = [asyncio.create_task(read(METER_UNIT, f"meter {n}")) for n in (2, 3)]
        await asyncio.sleep(0)
        board = asyncio.create_task(read(BOARD_UNIT, "board"))
        await asyncio.gather(first, *waiting, board)
        assert order == ["meter 1", "board", "meter 2", "meter 3"]

    run_rig(scenario)


def test_a_unit_with_a_short_reply_timeout_holds_the_bus_only_that_long() -> None:
    async def scenario(rig: Rig) -> None:
        rig.bus.set_unit_timing(METER_UNIT, reply_timeout_s=0.05)
        rig.server.set_fault(METER_UNIT, BusFault.SILENT)
        with pytest.raises(DeviceTimeout, match=r"no reply within 0.05 s"):
            await rig.bus.read_input_registers(METER_UNIT, 0, 2, device="meter")
        assert rig.bus.reply_timeout_s(BOARD_UNIT) == rig.bus.timeout_s
        with pytest.raises(ValueError, match="outside"):
            rig.bus.set_unit_timing(METER_UNIT, reply_timeout_s=rig.bus.timeout_s * 2)

    run_rig(scenario)
