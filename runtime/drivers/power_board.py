"""Driver of our EVSE power board ("VersineticEEL") over Modbus RTU: pilot, contactor, faults.

Implements `runtime.hardware.protocols.PowerBoard`. The register map and its codecs live in
`power_board_registers` (per docs/power-board-registers.md); a status poll is one FC04 read.
"""

from __future__ import annotations

from runtime.drivers import power_board_registers as reg
from runtime.drivers.modbus import ModbusBus, ModbusUnit
from runtime.hardware.types import PowerBoardInfo, PowerBoardStatus

DEVICE_NAME = "EVSE power board"
# The watchdog register is in whole seconds; an hour is far beyond any sane poll period.
MAX_WATCHDOG_S = 3600


class ModbusPowerBoard:
    """The power board at `unit` on `bus` (`PowerBoard` protocol)."""

    def __init__(self, bus: ModbusBus, unit: int, *, device: str = DEVICE_NAME) -> None:
        self._unit = ModbusUnit(bus, unit, device)

    @property
    def unit(self) -> ModbusUnit:
        """Bus, unit address and device name of this board."""
        return self._unit

    async def probe(self) -> PowerBoardInfo:
        """Read the identification registers and check that this is our board."""
        words = await self._unit.read_input_registers(
            reg.IDENTIFICATION_FIRST, reg.IDENTIFICATION_COUNT
        )
        info = reg.decode_identification(words, self._unit.ref)
        if info.vendor_id != reg.VENDOR_ID:
            raise self._unit.ref.garbage(
                f"vendor id is {info.vendor_id!r}, expected {reg.VENDOR_ID!r}: "
                "another device answers at this address; check the power board address"
            )
        return info

    async def read_status(self) -> PowerBoardStatus:
        """One poll: CP state and levels, duty, contactor, faults, temperature, clamps."""
        words = await self._unit.read_input_registers(reg.STATUS_FIRST, reg.STATUS_COUNT)
        return reg.decode_status(words, self._unit.ref)

    async def set_pwm(self, duty_permille: int) -> None:
        """Pilot output: 1000 = steady +12 V, 0 = steady -12 V (state F), 80..970 = PWM."""
        if not reg.is_valid_duty(duty_permille):
            raise ValueError(
                f"PWM duty {duty_permille} ‰ is not 0, 1000 or 80..970 (IEC 61851-1 Table A.8)"
            )
        await self._unit.write_register(reg.HR_PWM_DUTY, duty_permille)

    async def set_contactor(self, closed: bool) -> None:
        """Command the contactor; the feedback shows in the next `read_status()`."""
        await self._unit.write_register(reg.HR_CONTACTOR, int(closed))

    async def clear_faults(self) -> None:
        """Clear the latched diode fault (the RCM latch needs a power cycle of the board)."""
        await self._unit.write_register(reg.HR_CLEAR_FAULTS, reg.CLEAR_FAULTS_MAGIC)

    async def set_watchdog(self, timeout_s: int) -> None:
        """Arm the board's communication watchdog (0 = off); any write feeds it."""
        if not 0 <= timeout_s <= MAX_WATCHDOG_S:
            raise ValueError(f"watchdog timeout {timeout_s} s is outside 0..{MAX_WATCHDOG_S}")
        await self._unit.write_register(reg.HR_WATCHDOG_S, timeout_s)

    async def read_watchdog(self) -> int:
        """The watchdog setting as the board holds it now (0 after the board's power-up)."""
        (timeout_s,) = await self._unit.read_holding_registers(reg.HR_WATCHDOG_S, 1)
        return timeout_s
