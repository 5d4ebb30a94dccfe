"""Open the EVSE's devices from the profile: real buses, or the simulation's endpoints.

With `hardware.simulated` the drivers are the same; only their transports change: Modbus RTU
frames over loopback TCP to the simulated buses, I2C over the SMBus double's Unix socket. The
simulation announces where it listens in `<data_dir>/run/sim.json`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from runtime.drivers.i2c import I2cBus, SocketI2cBus, open_i2c_bus
from runtime.drivers.lis3dh import Lis3dh
from runtime.drivers.modbus import ModbusBus
from runtime.drivers.pca9634 import Pca9634
from runtime.drivers.pn532 import Pn532
from runtime.drivers.power_board import ModbusPowerBoard
from runtime.drivers.sdm_meter import SdmMeter
from runtime.evse.controller import POLL_PERIOD_S, Devices
from runtime.hardware.sim_endpoints import SimEndpoints
from schemas import Profile

# The board and the meter share the internal RS485 line. A board request waits for at most
# the one meter request in flight (the board's own requests overtake every waiting one), so a
# meter reply that never comes may hold the line for at most half a poll period: the board is
# never delayed beyond one poll (IEC 61851-1 Table A.6 seq. 7: contactor off within 100 ms).
# The SDM630's whole reading (76 registers) crosses a 115200 Bd line in about 14 ms.
METER_REPLY_TIMEOUT_S = POLL_PERIOD_S / 2


@dataclass(frozen=True)
class OpenDevices:
    """The devices plus how to release their buses."""

    devices: Devices
    close: Callable[[], Awaitable[None]]


def share_internal_bus(profile: Profile, internal: ModbusBus) -> None:
    """The power board's requests go first; the meter may hold the line only briefly."""
    internal.set_unit_timing(profile.hardware.power_board_address, urgent=True)
    internal.set_unit_timing(
        profile.metering.internal_meter.modbus_address,
        reply_timeout_s=min(METER_REPLY_TIMEOUT_S, internal.timeout_s),
    )


def devices_on(profile: Profile, internal: ModbusBus, i2c: I2cBus) -> Devices:
    """Every driver of the profile on the given internal bus and I2C bus."""
    share_internal_bus(profile, internal)
    hardware, chips = profile.hardware, profile.hardware.i2c
    led = Pca9634(
        i2c, bus_number=chips.bus, address=chips.led_driver, buzzer_channel=chips.buzzer_channel
    )
    return Devices(
        power_board=ModbusPowerBoard(internal, hardware.power_board_address),
        meter=SdmMeter(
            internal,
            profile.metering.internal_meter.modbus_address,
            profile.metering.internal_meter.type,
            device="MID kWh meter",
        ),
        rfid=Pn532(i2c, bus_number=chips.bus, address=chips.rfid_reader),
        led=led,
        buzzer=led,
        accelerometer=Lis3dh(i2c, bus_number=chips.bus, address=chips.accelerometer),
    )


def open_devices(profile: Profile, sim: SimEndpoints | None) -> OpenDevices:
    """Build every driver the profile describes on its bus."""
    hardware = profile.hardware
    internal: ModbusBus
    i2c: I2cBus
    if sim is not None:
        internal = ModbusBus.loopback(
            "127.0.0.1", sim.internal_port, timeout_s=hardware.internal_bus.timeout_s
        )
        i2c = SocketI2cBus(sim.i2c_socket, hardware.i2c.bus)
    else:
        internal = ModbusBus.serial(hardware.internal_bus, name="internal")
        i2c = open_i2c_bus(hardware.i2c.bus)
    devices = devices_on(profile, internal, i2c)

    async def close() -> None:
        await internal.close()
        await asyncio.to_thread(i2c.close)

    return OpenDevices(devices, close)
