"""A whole charging session: real drivers over RTU on loopback, simulated car, board and meter."""

from __future__ import annotations

import asyncio
import socket

import pytest

from runtime.drivers.modbus import ModbusBus
from runtime.drivers.power_board import ModbusPowerBoard
from runtime.drivers.sdm_meter import SdmMeter
from runtime.hardware.errors import DeviceError, DeviceTimeout
from runtime.hardware.types import CpState
from runtime.sim.car import CarSpec, SimCar
from runtime.sim.meter import SimMeter
from runtime.sim.modbus_server import EXTERNAL_BUS, LOOPBACK, SimBus, SimModbusServer
from runtime.sim.station import SimStation, serve_station

TIMEOUT_S = 0.15


def test_a_session_from_plug_to_full_over_the_bus() -> None:
    async def scenario() -> None:
        car = SimCar(CarSpec(phases=1, capacity_kwh=0.5, reaction_time_s=2.0))
        station = SimStation(car=car, site_load_a=(5.0, 5.0, 5.0))
        server = serve_station(station, power_board_unit=3, meter_unit=7)
        ports = await server.start()
        bus = ModbusBus.loopback(LOOPBACK, ports["internal"], timeout_s=TIMEOUT_S)
        board, meter = ModbusPowerBoard(bus, 3), SdmMeter(bus, 7, "sdm630")
        try:
            await board.probe()
            await meter.probe()
            car.plug_in()
            station.tick(0.02)
            assert (await board.read_status()).cp_state is CpState.B
            await board.set_pwm(533)  # 31.98 A offered, the car takes what it can
            station.tick(0.02)
            assert (await board.read_status()).cp_state is CpState.C
            await board.set_contactor(True)
            station.advance(3.0)
            status = await board.read_status()
            assert status.analog_clamp_currents_a == pytest.approx((5.0 + 16.0, 5.0, 5.0))
            start = (await meter.read()).energy_import_kwh
            for _ in range(200):  # 0.5 kWh at 3.68 kW is about 490 s
                station.advance(10.0)
                if car.full:
                    break
            assert car.full
            assert (await board.read_status()).cp_state is CpState.B
            end = await meter.read()
            assert end.currents_a == (0.0, 0.0, 0.0)
            assert end.energy_import_kwh - start == pytest.approx(car.energy_kwh, abs=0.02)
        finally:
            await bus.close()
            await server.stop()

    asyncio.run(scenario())


def test_devices_on_another_bus_get_their_own_port() -> None:
    async def scenario() -> None:
        server = SimModbusServer()
        server.add_device(1, SimMeter("sdm72d", serial_number=77), bus=EXTERNAL_BUS)
        server.add_device(1, SimMeter("sdm630", serial_number=11))
        async with server:
            assert server.port(EXTERNAL_BUS) != server.port()
            external = ModbusBus.loopback(LOOPBACK, server.port(EXTERNAL_BUS), timeout_s=TIMEOUT_S)
            info = await SdmMeter(external, 1, "sdm72d", device="site meter").probe()
            assert info.serial_number == 77
            await external.close()

    asyncio.run(scenario())


def test_unit_addresses_nobody_serves_stay_silent() -> None:
    async def scenario() -> None:
        async with serve_station(SimStation()) as server:
            bus = ModbusBus.loopback(LOOPBACK, server.port(), timeout_s=TIMEOUT_S)
            with pytest.raises(DeviceTimeout):
                await ModbusPowerBoard(bus, 5).probe()
            await bus.close()

    asyncio.run(scenario())


def test_simulated_buses_listen_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        SimBus("internal", host="0.0.0.0")


def test_a_unit_address_can_be_served_once_per_bus() -> None:
    bus = SimBus("internal")
    bus.add_device(1, SimMeter())
    with pytest.raises(ValueError, match="already taken"):
        bus.add_device(1, SimMeter())


def test_the_real_time_loop_advances_the_station() -> None:
    async def scenario() -> None:
        station = SimStation()
        runner = asyncio.create_task(station.run(period_s=0.001))
        for _ in range(1000):
            await asyncio.sleep(0.001)
            if station.board.heartbeat >= 3:
                break
        runner.cancel()
        assert station.board.heartbeat >= 3
        assert station.time_s > 0

    asyncio.run(scenario())


def test_the_bus_reopens_after_the_simulated_server_restarts() -> None:
    async def scenario() -> None:
        station = SimStation()
        first = serve_station(station)
        port = (await first.start())["internal"]
        bus = ModbusBus.loopback(LOOPBACK, port, timeout_s=TIMEOUT_S)
        board = ModbusPowerBoard(bus, 1)
        await board.probe()
        await first.stop()
        with pytest.raises(DeviceError):
            await board.read_status()
        second = serve_station(station, port=port)
        await second.start()
        try:
            assert (await board.read_status()).cp_state is CpState.A
        finally:
            await bus.close()
            await second.stop()

    asyncio.run(scenario())


def test_a_bus_made_outside_the_event_loop_works_inside_it() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind((LOOPBACK, 0))
        closed_port = probe.getsockname()[1]
    bus = ModbusBus.loopback(LOOPBACK, closed_port, timeout_s=TIMEOUT_S)

    async def scenario() -> None:
        async with serve_station(SimStation(), port=0) as server:
            with pytest.raises(
                DeviceTimeout, match=rf"cannot open sim tcp {LOOPBACK}:{closed_port}"
            ):
                await bus.read_input_registers(1, 0, 1)
            ok = ModbusBus.loopback(LOOPBACK, server.port(), timeout_s=TIMEOUT_S)
            assert await ok.read_input_registers(1, 0, 1) == [0x5665]
            await ok.close()
        await bus.close()

    asyncio.run(scenario())
