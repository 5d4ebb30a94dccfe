"""ST LIS3DH accelerometer over I2C: the Accelerometer for tilt and bump detection.

Runs at 100 Hz, ±16 g full scale, high-resolution (12-bit) so a 15 g bump still fits; register
values per the LIS3DH data sheet (DocID17530) §7-8. Also the pure vector helpers the tilt/bump
rule uses: the angle to the calibrated rest vector, magnitudes and the deviation from rest.
"""

from __future__ import annotations

import math
import struct

from runtime.drivers.i2c import I2cBus, I2cDevice
from runtime.hardware.errors import DeviceError
from runtime.hardware.types import Acceleration

DEVICE = "LIS3DH accelerometer"

WHO_AM_I = 0x0F
LIS3DH_ID = 0x33
CTRL_REG1 = 0x20
CTRL_REG4 = 0x23
OUT_X_L = 0x28  # X, Y, Z as little-endian 16-bit pairs up to OUT_Z_H 0x2D
AUTO_INCREMENT = 0x80  # MSB of the sub-address, data sheet §6.1.1

CTRL_REG1_100HZ_XYZ = 0x57  # ODR 0101 = 100 Hz, LPen 0, Z/Y/X enabled
CTRL_REG4_16G_HR = 0xB8  # BDU 1, little-endian, FS 11 = ±16 g, HR 1, no self-test
SENSITIVITY_G = 0.012  # Table 4: 12 mg/digit at ±16 g in high-resolution mode


def raw_to_g(raw: int) -> float:
    """A 16-bit output register pair (12-bit left-justified two's complement) in g."""
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"raw value {raw} is not 16 bits")
    signed = raw - 0x10000 if raw & 0x8000 else raw
    return (signed >> 4) * SENSITIVITY_G


def decode_sample(data: bytes) -> Acceleration:
    """OUT_X_L..OUT_Z_H (six bytes) as an Acceleration."""
    x, y, z = struct.unpack("<3H", data)
    return Acceleration(raw_to_g(x), raw_to_g(y), raw_to_g(z))


def magnitude_g(sample: Acceleration) -> float:
    """Length of the acceleration vector (1 g at rest)."""
    return math.sqrt(sample.x_g**2 + sample.y_g**2 + sample.z_g**2)


def deviation_g(sample: Acceleration, reference: Acceleration) -> float:
    """How far a sample is from the rest vector: the bump acceleration, gravity taken out."""
    return magnitude_g(
        Acceleration(
            sample.x_g - reference.x_g, sample.y_g - reference.y_g, sample.z_g - reference.z_g
        )
    )


def tilt_angle_deg(sample: Acceleration, reference: Acceleration) -> float:
    """Angle in degrees (0..180) between the calibrated rest vector and a sample.

    A zero vector (free fall, or no calibration yet) has no direction and gives 0.
    """
    a = (sample.x_g, sample.y_g, sample.z_g)
    b = (reference.x_g, reference.y_g, reference.z_g)
    cross = (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
    dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    return math.degrees(math.atan2(math.hypot(*cross), dot))  # stable for small angles too


class Lis3dh:
    """Accelerometer on a LIS3DH."""

    def __init__(self, bus: I2cBus, *, bus_number: int = 1, address: int = 0x18) -> None:
        self.chip = I2cDevice(bus, bus_number, address, DEVICE)
        self._configured = False

    async def probe(self) -> None:
        """Check WHO_AM_I, configure 100 Hz ±16 g high resolution, and check it took."""
        identity = await self.chip.read_register(WHO_AM_I)
        if identity != LIS3DH_ID:
            raise self.chip.garbage(f"WHO_AM_I reads 0x{identity:02x}, not 0x33: not a LIS3DH")
        await self._configure()

    async def read(self) -> Acceleration:
        """The latest sample of all three axes, read in one auto-increment block."""
        try:
            if not self._configured:
                await self._configure()
            data = await self.chip.read_registers(AUTO_INCREMENT | OUT_X_L, 6)
        except DeviceError:
            self._configured = False  # the chip may have lost power: set it up again when back
            raise
        return decode_sample(data)

    async def _configure(self) -> None:
        await self.chip.write_register(CTRL_REG1, CTRL_REG1_100HZ_XYZ)
        await self.chip.write_register(CTRL_REG4, CTRL_REG4_16G_HR)
        ctrl1 = await self.chip.read_register(CTRL_REG1)
        ctrl4 = await self.chip.read_register(CTRL_REG4)
        if (ctrl1, ctrl4) != (CTRL_REG1_100HZ_XYZ, CTRL_REG4_16G_HR):
            raise self.chip.garbage(
                f"CTRL_REG1/CTRL_REG4 read back 0x{ctrl1:02x}/0x{ctrl4:02x}, "
                f"wrote 0x{CTRL_REG1_100HZ_XYZ:02x}/0x{CTRL_REG4_16G_HR:02x}"
            )
        self._configured = True
