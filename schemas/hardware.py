"""Hardware wiring of the communication board: serial buses, Modbus and I2C addresses.

With `simulated: true` the drivers stay the same but talk to the simulated devices: Modbus
buses become loopback TCP servers, the P1 port a pty and the I2C bus an SMBus double holding
the chips' registers. Addresses are used as written in both cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.base import ProfileModel, Violation, cross_field_rule
from schemas.metering import ModbusAddress

INTERNAL_BUS_BAUDRATE = 115200  # see Hardware.internal_bus_keeps_the_control_poll_on_time
DevicePath = Annotated[str, StringConstraints(pattern=r"^/dev/[A-Za-z0-9_./-]+$")]
I2cAddress = Annotated[int, Field(ge=0x03, le=0x77, description="7-bit I2C address")]


class SerialBus(ProfileModel):
    """An RS485 bus driven as Modbus RTU."""

    port: DevicePath = Field(description="Serial device")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = Field(9600, description="Baud rate")
    parity: Literal["N", "E", "O"] = Field("N", description="Parity")
    stop_bits: Literal[1, 2] = Field(1, description="Stop bits")
    timeout_s: float = Field(0.5, ge=0.05, le=5, description="Reply timeout [s]")


class I2cDevices(ProfileModel):
    """Chips on the board's I2C bus."""

    bus: int = Field(1, ge=0, le=31, description="I2C bus number (/dev/i2c-N)")
    rfid_reader: I2cAddress = Field(0x24, description="PN532 RFID reader")
    led_driver: I2cAddress = Field(0x30, description="RGBW LED driver")
    accelerometer: I2cAddress = Field(0x18, description="LIS3DH accelerometer")
    buzzer_channel: int = Field(
        4, ge=4, le=7, description="LED driver channel that drives the piezo buzzer"
    )

    @cross_field_rule
    def i2c_addresses_are_unique(self) -> Iterator[Violation]:
        seen: dict[int, str] = {}
        for name in ("rfid_reader", "led_driver", "accelerometer"):
            address: int = getattr(self, name)
            if address in seen:
                yield Violation(
                    (name,), f"I2C address 0x{address:02x} is already used by {seen[address]}"
                )
            seen[address] = name


class Hardware(ProfileModel):
    """How the communication board reaches its devices."""

    simulated: bool = Field(False, description="Run against simulated devices (development, qemu)")
    internal_bus: SerialBus = Field(
        default_factory=lambda: SerialBus(port="/dev/ttyS1", baudrate=115200),
        description="Internal RS485: EVSE power board and MID meter",
    )
    external_bus: SerialBus = Field(
        default_factory=lambda: SerialBus(port="/dev/ttyS2"),
        description="External RS485: digital CT clamps, external kWh meter",
    )
    power_board_address: ModbusAddress = Field(1, description="EVSE power board Modbus address")
    p1_port: DevicePath = Field("/dev/ttyS3", description="P1 smart meter port (RJ12)")
    i2c: I2cDevices = Field(default_factory=I2cDevices)

    @cross_field_rule
    def internal_bus_keeps_the_control_poll_on_time(self) -> Iterator[Violation]:
        # The power board is polled every 50 ms (half of IEC 61851-1 Table A.6 seq. 7's 100 ms
        # contactor-off budget) and a meter reply may hold the shared line for 25 ms of it. The
        # meter's whole reading (76 registers, 165 bytes on the wire) takes 14 ms at 115200 Bd,
        # 29 ms at 57600 and 172 ms at 9600, so only 115200 Bd keeps the board poll on time.
        if self.internal_bus.baudrate < INTERNAL_BUS_BAUDRATE:
            yield Violation(
                ("internal_bus", "baudrate"),
                f"the internal bus carries the power board's 50 ms poll and the meter reading:"
                f" it needs {INTERNAL_BUS_BAUDRATE} Bd ({self.internal_bus.baudrate} Bd would"
                " delay the contactor beyond IEC 61851-1's 100 ms)",
            )

    @cross_field_rule
    def buses_use_different_ports(self) -> Iterator[Violation]:
        if self.internal_bus.port == self.external_bus.port:
            yield Violation(
                ("external_bus", "port"), "the internal and external RS485 buses need two ports"
            )
        if self.p1_port in (self.internal_bus.port, self.external_bus.port):
            yield Violation(("p1_port",), "the P1 port cannot share a serial port with RS485")
