"""The interfaces between the charging logic and its devices.

The logic depends only on these Protocols; drivers implement them over pymodbus or smbus2 and
raise `DeviceError` subclasses (never bus-library exceptions). `probe()` fails with a typed
error naming the device and address.
"""

from __future__ import annotations

from typing import Protocol

from runtime.hardware.types import (
    Acceleration,
    MeterInfo,
    MeterReading,
    PowerBoardInfo,
    PowerBoardStatus,
    Rgbw,
)


class PowerBoard(Protocol):
    """EVSE power board: control pilot, contactor, RCM, temperature."""

    async def probe(self) -> PowerBoardInfo: ...

    async def read_status(self) -> PowerBoardStatus: ...

    async def set_pwm(self, duty_permille: int) -> None:
        """Pilot output: 1000 = steady +12 V (no PWM), 0 = steady -12 V (state F), else PWM."""
        ...

    async def set_contactor(self, closed: bool) -> None: ...

    async def clear_faults(self) -> None:
        """Ask the board to clear latched faults that its rules allow to be cleared."""
        ...

    async def set_watchdog(self, timeout_s: int) -> None:
        """Without a command for `timeout_s` the board opens the contactor itself (0 = off)."""
        ...

    async def read_watchdog(self) -> int:
        """The watchdog setting the board holds; its power-up default is 0 (off)."""
        ...


class EnergyMeter(Protocol):
    """A Modbus kWh meter (MID meter inside, or an external meter)."""

    async def probe(self) -> MeterInfo: ...

    async def read(self) -> MeterReading: ...


class RfidReader(Protocol):
    """ISO 14443A card reader."""

    async def probe(self) -> str:
        """Firmware identification of the reader chip."""
        ...

    async def poll_card(self) -> str | None:
        """UID of a card in the field as upper-case hex, or None."""
        ...


class Led(Protocol):
    """The RGBW status LED."""

    async def probe(self) -> None: ...

    async def show(self, colour: Rgbw) -> None: ...


class Buzzer(Protocol):
    """The piezo buzzer."""

    async def beep(self, duration_s: float) -> None: ...


class Accelerometer(Protocol):
    """Tilt/bump sensor."""

    async def probe(self) -> None: ...

    async def read(self) -> Acceleration: ...
