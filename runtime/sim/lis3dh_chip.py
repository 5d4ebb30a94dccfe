"""A simulated ST LIS3DH accelerometer: its registers, and output registers computed from a
settable acceleration vector in whatever mode and full scale the host configured.

Per the LIS3DH data sheet (DocID17530): Table 4 sensitivities, §6.1.1 sub-address auto-increment,
§8 register map. `tilt()` and `bump()` move the simulated charger.
"""

from __future__ import annotations

import math

from runtime.hardware.types import Acceleration
from runtime.sim.i2c_chip import SimChip

WHO_AM_I, CTRL_REG1, CTRL_REG4, STATUS_REG, OUT_X_L = 0x0F, 0x20, 0x23, 0x27, 0x28
WRITABLE = frozenset({0x1E, 0x1F, *range(0x20, 0x27), 0x2E, 0x30, 0x32, 0x33, 0x34, 0x36, 0x37,
                      0x38, *range(0x3A, 0x40)})  # fmt: skip
# mg/digit by full scale (CTRL_REG4 FS bits) for high-resolution, normal and low-power modes.
SENSITIVITY_MG = {12: (1, 2, 4, 12), 10: (4, 8, 16, 48), 8: (16, 32, 64, 192)}
AT_REST = Acceleration(0.0, 0.0, 1.0)  # mounted upright: gravity along +z


class Lis3dhChip(SimChip):
    """LIS3DH registers; a sample is taken when the host starts reading at OUT_X_L."""

    name = "LIS3DH"

    def __init__(self) -> None:
        super().__init__()
        self.registers = bytearray(0x40)
        self.registers[WHO_AM_I] = 0x33
        self.registers[CTRL_REG1] = 0x07  # power-down, all axes enabled
        self.registers[0x1E] = 0x10  # CTRL_REG0
        self.acceleration = AT_REST  # the steady vector the chip feels, in g
        self.samples_taken = 0
        self._bump = Acceleration(0.0, 0.0, 0.0)
        self._bump_samples = 0
        self._pointer = 0
        self._auto_increment = False

    def tilt(self, angle_deg: float) -> None:
        """Lean the charger `angle_deg` from upright, towards its +x axis."""
        angle = math.radians(angle_deg)
        self.acceleration = Acceleration(math.sin(angle), 0.0, math.cos(angle))

    def bump(self, peak_g: float, samples: int = 3) -> None:
        """The next `samples` samples feel an extra `peak_g` along +x, on top of the steady one."""
        self._bump = Acceleration(peak_g, 0.0, 0.0)
        self._bump_samples = samples

    def write(self, data: bytes) -> None:
        """Sub-address (MSB = auto-increment), then data; read-only registers ignore writes."""
        if not data:
            return
        self._pointer, self._auto_increment = data[0] & 0x7F, bool(data[0] & 0x80)
        for byte in data[1:]:
            if self._pointer in WRITABLE:
                self.registers[self._pointer] = byte
            self._advance()

    def read(self, length: int) -> bytes:
        """Registers from the sub-address on."""
        out = bytearray()
        for _ in range(length):
            if self._pointer == OUT_X_L:
                self._sample()
            out.append(self.registers[self._pointer])
            self._advance()
        return bytes(out)

    def _advance(self) -> None:
        if self._auto_increment:
            self._pointer = (self._pointer + 1) & 0x3F

    @property
    def resolution_bits(self) -> int:
        """12 in high-resolution mode, 8 in low-power mode, 10 otherwise."""
        if self.registers[CTRL_REG1] & 0x08:
            return 8
        return 12 if self.registers[CTRL_REG4] & 0x08 else 10

    def _sample(self) -> None:
        """Latch a new sample into OUT_X_L..OUT_Z_H unless the chip is powered down."""
        if not self.registers[CTRL_REG1] >> 4:
            return
        vector = self.acceleration
        if self._bump_samples > 0:
            self._bump_samples -= 1
            vector = Acceleration(
                vector.x_g + self._bump.x_g,
                vector.y_g + self._bump.y_g,
                vector.z_g + self._bump.z_g,
            )
        enabled = self.registers[CTRL_REG1] & 0x07
        big_endian = bool(self.registers[CTRL_REG4] & 0x40)
        for axis, g in enumerate((vector.x_g, vector.y_g, vector.z_g)):
            raw = self._encode(g) if enabled & (1 << axis) else 0
            low, high = raw & 0xFF, raw >> 8
            if big_endian:
                low, high = high, low
            self.registers[OUT_X_L + 2 * axis] = low
            self.registers[OUT_X_L + 2 * axis + 1] = high
        self.registers[STATUS_REG] = 0x0F
        self.samples_taken += 1

    def _encode(self, g: float) -> int:
        """g as the left-justified two's complement the current mode and full scale give."""
        bits = self.resolution_bits
        full_scale = (self.registers[CTRL_REG4] >> 4) & 0x03
        counts = round(g * 1000 / SENSITIVITY_MG[bits][full_scale])
        limit = 1 << (bits - 1)
        counts = max(-limit, min(limit - 1, counts))
        return (counts << (16 - bits)) & 0xFFFF
