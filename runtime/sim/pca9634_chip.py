"""A simulated NXP PCA9634 LED driver: its registers, the control register's auto-increment
modes, and what its outputs drive on this board (RGBW LED on channels 0-3, buzzer on one more).

Register behaviour per the PCA9634 data sheet §7.2-7.3 (Table 4 auto-increment options).
"""

from __future__ import annotations

from runtime.hardware.types import Rgbw
from runtime.sim.i2c_chip import SimChip

MODE1, MODE2, PWM0, GRPPWM, LEDOUT0 = 0x00, 0x01, 0x02, 0x0A, 0x0C
LAST_REGISTER = 0x11  # ALLCALLADR
# Reset values, MODE1..ALLCALLADR (MODE1 bits 7-5 are read-only: the control register's AI bits).
RESET = bytes([0x11, 0x05, *bytes(8), 0xFF, 0x00, 0x00, 0x00, 0xE2, 0xE4, 0xE8, 0xE0])
MODE1_SLEEP = 0x10
MODE2_DMBLNK = 0x20
# Auto-increment options (control register bits 7-5) -> (first, last) register of the roll-over.
AUTO_INCREMENT = {0b100: (0x00, LAST_REGISTER), 0b101: (0x02, 0x09), 0b110: (0x0A, 0x0B),
                  0b111: (0x02, 0x0B)}  # fmt: skip
LEDOUT_OFF, LEDOUT_ON, LEDOUT_PWM, LEDOUT_PWM_GROUP = 0, 1, 2, 3


class Pca9634Chip(SimChip):
    """PCA9634 registers, and the LED colour and buzzer state its outputs produce."""

    name = "PCA9634"

    def __init__(self, buzzer_channel: int = 4) -> None:
        super().__init__()
        self.buzzer_channel = buzzer_channel
        self.registers = bytearray(RESET)
        self.beeps = 0  # times the buzzer output went from off to on
        self._pointer = 0
        self._auto_increment = 0

    def write(self, data: bytes) -> None:
        """Control register (AI bits + register), then data bytes; outputs change at STOP."""
        if not data:
            return
        buzzer_was_on = self.buzzer_on
        self._set_control(data[0])
        for byte in data[1:]:
            if self._pointer == MODE1:
                byte &= 0x1F
            if self._pointer <= LAST_REGISTER:
                self.registers[self._pointer] = byte
            self._advance()
        if self.buzzer_on and not buzzer_was_on:
            self.beeps += 1

    def read(self, length: int) -> bytes:
        """Registers from the pointer on, following the auto-increment option."""
        out = bytearray()
        for _ in range(length):
            out.append(self.register(self._pointer))
            self._advance()
        return bytes(out)

    def register(self, address: int) -> int:
        """A register as the chip reads it back (MODE1 shows the auto-increment bits)."""
        if address == MODE1:
            return (self._auto_increment << 5) | self.registers[MODE1]
        return self.registers[address] if address <= LAST_REGISTER else 0x00

    def level(self, channel: int) -> int:
        """Output level 0..255 of one channel (0 while asleep or off)."""
        if self.registers[MODE1] & MODE1_SLEEP:
            return 0
        mode = (self.registers[LEDOUT0 + channel // 4] >> (2 * (channel % 4))) & 0b11
        pwm = self.registers[PWM0 + channel]
        if mode == LEDOUT_ON:
            return 0xFF
        if mode == LEDOUT_PWM:
            return pwm
        if mode == LEDOUT_PWM_GROUP and not self.registers[MODE2] & MODE2_DMBLNK:
            return pwm * self.registers[GRPPWM] // 256
        if mode == LEDOUT_PWM_GROUP:
            return pwm  # group blinking: the level while the blink is on
        return 0

    def colour(self) -> Rgbw:
        """The RGBW colour the LED shows now."""
        return Rgbw(self.level(0), self.level(1), self.level(2), self.level(3))

    @property
    def buzzer_on(self) -> bool:
        """Whether the buzzer channel drives the buzzer now."""
        return self.level(self.buzzer_channel) > 0

    def _set_control(self, control: int) -> None:
        self._auto_increment = control >> 5
        self._pointer = control & 0x1F

    def _advance(self) -> None:
        span = AUTO_INCREMENT.get(self._auto_increment)
        if span is None:
            return
        first, last = span
        self._pointer = first if self._pointer == last else (self._pointer + 1) & 0x1F
