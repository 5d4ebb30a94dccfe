"""The LIS3DH driver against the simulated LIS3DH, and the tilt/bump vector helpers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.drivers.i2c import I2cBus
from runtime.drivers.lis3dh import (
    SENSITIVITY_G,
    Lis3dh,
    decode_sample,
    deviation_g,
    magnitude_g,
    raw_to_g,
    tilt_angle_deg,
)
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.hardware.types import Acceleration
from tests.runtime.drivers.i2c_harness import charger_board, run_on_socket

UPRIGHT = Acceleration(0.0, 0.0, 1.0)
QUANTUM = SENSITIVITY_G  # one digit at ±16 g high resolution


async def probe_and_read(bus: I2cBus) -> Acceleration:
    accelerometer = Lis3dh(bus)
    await accelerometer.probe()
    return await accelerometer.read()


def test_probe_configures_100_hz_16_g_high_resolution(tmp_path: Path) -> None:
    board = charger_board()
    run_on_socket(tmp_path, board, probe_and_read)
    assert board.accelerometer.registers[0x20] == 0x57
    assert board.accelerometer.registers[0x23] == 0xB8
    assert board.accelerometer.resolution_bits == 12


def test_probe_of_a_missing_accelerometer_names_bus_and_address(tmp_path: Path) -> None:
    board = charger_board()
    board.accelerometer.answering = False
    with pytest.raises(DeviceTimeout, match=r"LIS3DH accelerometer at i2c-1 0x18"):
        run_on_socket(tmp_path, board, probe_and_read)


def test_probe_rejects_a_chip_with_another_identity(tmp_path: Path) -> None:
    board = charger_board()
    board.accelerometer.registers[0x0F] = 0x32  # a LIS331
    with pytest.raises(DeviceGarbage, match="WHO_AM_I reads 0x32, not 0x33"):
        run_on_socket(tmp_path, board, probe_and_read)


def test_an_upright_charger_reads_one_g_along_z(tmp_path: Path) -> None:
    sample = run_on_socket(tmp_path, charger_board(), probe_and_read)
    assert abs(sample.x_g) < QUANTUM and abs(sample.y_g) < QUANTUM
    assert sample.z_g == pytest.approx(1.0, abs=QUANTUM)


@pytest.mark.parametrize("angle", [1, 5, 30, 45, 80])
def test_a_tilted_charger_reads_its_tilt_angle(tmp_path: Path, angle: float) -> None:
    board = charger_board()
    board.accelerometer.tilt(angle)
    sample = run_on_socket(tmp_path, board, probe_and_read)
    assert tilt_angle_deg(sample, UPRIGHT) == pytest.approx(angle, abs=1.0)


@pytest.mark.parametrize("peak", [1, 8, 15])
def test_a_bump_reads_as_its_acceleration_then_passes(tmp_path: Path, peak: float) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> tuple[Acceleration, Acceleration, Acceleration]:
        accelerometer = Lis3dh(bus)
        rest = await probe_and_read(bus)
        board.accelerometer.bump(peak, samples=1)
        return rest, await accelerometer.read(), await accelerometer.read()

    rest, bumped, after = run_on_socket(tmp_path, board, scenario)
    assert deviation_g(bumped, rest) == pytest.approx(peak, abs=2 * QUANTUM)
    assert deviation_g(after, rest) < 2 * QUANTUM


def test_reading_without_probe_configures_the_chip_first(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> Acceleration:
        return await Lis3dh(bus).read()

    sample = run_on_socket(tmp_path, board, scenario)
    assert sample.z_g == pytest.approx(1.0, abs=QUANTUM)


def signed_12_bit_reference(raw: int) -> float:
    """The data sheet's reading, written another way: the signed 16-bit value over 16 digits."""
    value = int.from_bytes(raw.to_bytes(2, "big"), "big", signed=True)
    return math.floor(value / 16) * 12 / 1000


@given(st.integers(0, 0xFFFF))
def test_raw_to_g_decodes_every_16_bit_value(raw: int) -> None:
    g = raw_to_g(raw)
    assert g == pytest.approx(signed_12_bit_reference(raw), abs=1e-9)
    assert -2048 * QUANTUM - 1e-9 <= g <= 2047 * QUANTUM + 1e-9
    assert raw_to_g(raw & 0xFFF0) == g  # the four low bits are not data


def test_raw_to_g_is_monotonic_over_all_12_bit_counts() -> None:
    decoded = [raw_to_g((count & 0xFFF) << 4) for count in range(-2048, 2048)]
    assert decoded == sorted(decoded)
    assert decoded[2048] == 0.0 and decoded[2049] == pytest.approx(0.012)


@given(st.binary(min_size=6, max_size=6))
def test_a_sample_decodes_little_endian_per_axis(data: bytes) -> None:
    sample = decode_sample(data)
    assert sample.x_g == raw_to_g(data[0] | data[1] << 8)
    assert sample.z_g == raw_to_g(data[4] | data[5] << 8)


finite = st.floats(-30, 30, allow_nan=False)
vectors = st.builds(Acceleration, finite, finite, finite)
non_zero = vectors.filter(lambda v: magnitude_g(v) > 1e-3)


@given(vectors, vectors)
def test_tilt_angle_is_between_0_and_180_and_symmetric(a: Acceleration, b: Acceleration) -> None:
    angle = tilt_angle_deg(a, b)
    assert 0.0 <= angle <= 180.0
    assert angle == pytest.approx(tilt_angle_deg(b, a), abs=1e-9)


@given(non_zero, st.floats(0.01, 100))
def test_tilt_angle_ignores_the_length_of_the_vectors(a: Acceleration, scale: float) -> None:
    longer = Acceleration(a.x_g * scale, a.y_g * scale, a.z_g * scale)
    assert tilt_angle_deg(longer, a) == pytest.approx(0.0, abs=1e-4)
    opposite = Acceleration(-a.x_g, -a.y_g, -a.z_g)
    assert tilt_angle_deg(opposite, a) == pytest.approx(180.0, abs=1e-4)


@given(st.floats(0, 180))
def test_tilt_angle_measures_a_known_rotation(angle: float) -> None:
    tilted = Acceleration(math.sin(math.radians(angle)), 0.0, math.cos(math.radians(angle)))
    assert tilt_angle_deg(tilted, UPRIGHT) == pytest.approx(angle, abs=1e-6)


def test_a_zero_vector_has_no_tilt() -> None:
    assert tilt_angle_deg(Acceleration(0.0, 0.0, 0.0), UPRIGHT) == 0.0


@given(vectors, vectors, st.floats(-10, 10))
def test_magnitude_and_deviation_are_lengths(a: Acceleration, b: Acceleration, k: float) -> None:
    scaled = Acceleration(a.x_g * k, a.y_g * k, a.z_g * k)
    assert magnitude_g(scaled) == pytest.approx(abs(k) * magnitude_g(a), rel=1e-9, abs=1e-9)
    assert deviation_g(a, a) == 0.0
    assert deviation_g(a, b) == pytest.approx(deviation_g(b, a))
    assert deviation_g(a, b) <= magnitude_g(a) + magnitude_g(b) + 1e-9
