"""Open the EVSE's devices from the profile: real buses, or the simulation's endpoints.

With `hardware.simulated` the drivers are the same; only their transports change: Modbus RTU
frames over loopback TCP to the simulated buses, I2C over the SMBus double's Unix socket. The
simulation announces where it listens in `<data_dir>/run/sim.json`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.drivers.i2c import I2cBus, SocketI2cBus, open_i2c_bus
from runtime.drivers.lis3dh import Lis3dh
from runtime.drivers.modbus import ModbusBus
from runtime.drivers.pca9634 import Pca9634
from runtime.drivers.pn532 import Pn532
from runtime.drivers.power_board import ModbusPowerBoard
from runtime.drivers.sdm_meter import SdmMeter
from runtime.evse.controller import POLL_PERIOD_S, Devices
from schemas import Profile

SIM_WAIT_STEP_S = 0.1
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# The board and the meter share the internal RS485 line. A board request waits for at most
# the one meter request in flight (the board's own requests overtake every waiting one), so a
# meter reply that never comes may hold the line for at most half a poll period: the board is
# never delayed beyond one poll (IEC 61851-1 Table A.6 seq. 7: contactor off within 100 ms).
# The SDM630's whole reading (76 registers) crosses a 115200 Bd line in about 14 ms.
METER_REPLY_TIMEOUT_S = POLL_PERIOD_S / 2


def this_boot(path: Path = BOOT_ID) -> str:
    """The kernel's id of the running boot."""
    return path.read_text(encoding="ascii").strip()


class SimEndpoints(BaseModel):
    """Where the simulated devices listen (written by the simulation, read by the services).

    The file sits on the data partition, so a power cut leaves it behind: it names the boot that
    wrote it, and only this boot's file is trusted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    internal_port: int
    external_port: int
    i2c_socket: str
    control_socket: str
    p1_pty: str | None = None
    boot_id: str = Field(default_factory=this_boot)


def sim_endpoints_path(data_dir: Path) -> Path:
    """The file the simulation writes its endpoints to."""
    return data_dir / "run" / "sim.json"


async def wait_for_sim_endpoints(data_dir: Path, timeout_s: float) -> SimEndpoints:
    """Read the simulation's endpoints, waiting (bounded) for it to start."""
    path, boot = sim_endpoints_path(data_dir), this_boot()
    for _ in range(max(1, int(timeout_s / SIM_WAIT_STEP_S))):
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(fields, dict) and fields.get("boot_id") == boot:
                return SimEndpoints.model_validate(fields)
        except (OSError, ValueError, ValidationError):
            pass
        await asyncio.sleep(SIM_WAIT_STEP_S)  # not there yet, or left by an earlier boot
    raise TimeoutError(f"{path}: the hardware simulation did not start within {timeout_s:g} s")


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
