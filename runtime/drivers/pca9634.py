"""NXP PCA9634 8-channel PWM LED driver: the RGBW status LED (channels 0-3) and the buzzer.

The piezo buzzer hangs on one more channel (4 by default, `hardware.i2c.buzzer_channel`);
a beep is that channel at 50 % for the duration. Register map per the PCA9634 data sheet §7.3.
"""

from __future__ import annotations

import asyncio

from runtime.drivers.i2c import I2cBus, I2cDevice
from runtime.hardware.errors import DeviceError
from runtime.hardware.types import Rgbw

DEVICE = "PCA9634 LED driver"

MODE1 = 0x00
MODE2 = 0x01
PWM0 = 0x02  # PWM0..PWM7 at 0x02..0x09
GRPPWM = 0x0A
GRPFREQ = 0x0B
LEDOUT0 = 0x0C  # LED0..3, two bits each
LEDOUT1 = 0x0D  # LED4..7
AUTO_INCREMENT_ALL = 0x80  # control register AI2:AI0 = 100, data sheet Table 4

MODE1_AI_BITS = 0xE0  # read-only: the auto-increment bits of the control register
MODE1_NORMAL = 0x01  # SLEEP off (oscillator on), ALLCALL on, SUB1..3 off
MODE2_TOTEM_POLE = 0x05  # not inverted, outputs change on STOP, totem pole, OUTNE 01
LEDOUT_ALL_PWM = 0xAA  # every channel driven by its own PWM register
OSCILLATOR_START_S = 0.0005  # data sheet §7.3.1: 500 us after SLEEP is cleared

RGBW_CHANNELS = (0, 1, 2, 3)
BUZZER_CHANNELS = (4, 5, 6, 7)
HALF_DUTY = 128  # 50 % of the 256-step PWM


class Pca9634:
    """Led (RGBW on channels 0-3) and Buzzer (one of channels 4-7) on one PCA9634."""

    def __init__(
        self,
        bus: I2cBus,
        *,
        bus_number: int = 1,
        address: int = 0x30,
        buzzer_channel: int = 4,
        buzzer_level: int = HALF_DUTY,
    ) -> None:
        if buzzer_channel not in BUZZER_CHANNELS:
            raise ValueError(f"buzzer channel {buzzer_channel} is not one of 4..7 (0..3 are RGBW)")
        if not 0 < buzzer_level <= 0xFF:
            raise ValueError(f"buzzer level {buzzer_level} is not 1..255")
        self.chip = I2cDevice(bus, bus_number, address, DEVICE)
        self.buzzer_channel = buzzer_channel
        self.buzzer_level = buzzer_level
        self._beep_lock = asyncio.Lock()
        self._configured = False

    async def probe(self) -> None:
        """Wake the chip, set every channel to PWM, and check MODE1/MODE2 read back as written."""
        await self._configure()
        mode1 = await self.chip.read_register(MODE1) & ~MODE1_AI_BITS
        mode2 = await self.chip.read_register(MODE2)
        if (mode1, mode2) != (MODE1_NORMAL, MODE2_TOTEM_POLE):
            raise self.chip.garbage(
                f"MODE1/MODE2 read back 0x{mode1:02x}/0x{mode2:02x}, "
                f"wrote 0x{MODE1_NORMAL:02x}/0x{MODE2_TOTEM_POLE:02x}: not a PCA9634?"
            )

    async def show(self, colour: Rgbw) -> None:
        """Set the four LED channels in one auto-increment write."""
        levels = (colour.red, colour.green, colour.blue, colour.white)
        if any(not 0 <= level <= 0xFF for level in levels):
            raise ValueError(f"colour levels must be 0..255: {colour}")
        await self._write(PWM0, bytes(levels))

    async def beep(self, duration_s: float) -> None:
        """Buzzer on for `duration_s`, then off (also when cancelled); beeps do not overlap."""
        register = PWM0 + self.buzzer_channel
        async with self._beep_lock:
            await self._write(register, bytes([self.buzzer_level]))
            try:
                await asyncio.sleep(max(duration_s, 0.0))
            finally:
                await self._write(register, b"\x00")

    async def _write(self, register: int, data: bytes) -> None:
        """Write registers, setting the chip up first after power-up or a bus error."""
        try:
            if not self._configured:
                await self._configure()
            await self.chip.write_registers(AUTO_INCREMENT_ALL | register, data)
        except DeviceError:
            self._configured = False  # the chip may have reset: set it up again next time
            raise

    async def _configure(self) -> None:
        await self.chip.write_register(MODE1, MODE1_NORMAL)
        await asyncio.sleep(OSCILLATOR_START_S)
        await self.chip.write_register(MODE2, MODE2_TOTEM_POLE)
        await self.chip.write_registers(
            AUTO_INCREMENT_ALL | LEDOUT0, bytes([LEDOUT_ALL_PWM, LEDOUT_ALL_PWM])
        )
        self._configured = True
