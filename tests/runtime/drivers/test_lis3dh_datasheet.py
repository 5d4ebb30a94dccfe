"""The LIS3DH driver and the simulated LIS3DH, each against ST's datasheet (DocID17530).

tests/fixtures/datasheets/lis3dh.json records the register addresses, reset values, the
auto-increment bit, Table 4's sensitivities and output bytes for known accelerations; the
driver must configure and decode by them, and the simulated chip must produce them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.drivers.lis3dh import Lis3dh
from runtime.hardware.types import Acceleration
from runtime.sim.lis3dh_chip import Lis3dhChip
from runtime.sim.smbus_double import I2cDouble
from tests.fixtures.datasheet import RecordedRegisterChip, load, number, octets

SHEET = load("lis3dh")
REGISTER = {name: number(entry["address"]) for name, entry in SHEET["registers"].items()}
AUTO_INCREMENT = number(SHEET["auto_increment_bit"])
ADDRESS = 0x19
DRIVER_SAMPLES = [s for s in SHEET["samples"] if "reads_as_g" in s]


def recorded_chip(out: bytes) -> RecordedRegisterChip:
    registers = {
        number(entry["address"]): number(entry["reset"])
        for entry in SHEET["registers"].values()
        if "reset" in entry
    }
    registers.update(enumerate(out, start=REGISTER["OUT_X_L"]))
    return RecordedRegisterChip(registers, AUTO_INCREMENT)


def test_the_fixture_samples_follow_table_4() -> None:
    for sample in SHEET["samples"]:
        table = SHEET["sensitivity_mg_per_digit"][sample["mode"]]
        raw = octets(sample["out_x_l_to_out_z_h"])
        for axis, g in enumerate(sample["acceleration_g"]):
            word = int.from_bytes(raw[2 * axis : 2 * axis + 2], "little", signed=True)
            counts = word >> (16 - table["bits"])
            assert counts == round(g * 1000 / table[str(sample["full_scale_g"])])


# ----- the driver ------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", DRIVER_SAMPLES, ids=lambda s: s["out_x_l_to_out_z_h"])
def test_driver_configures_and_decodes_by_the_datasheet(sample: dict[str, Any]) -> None:
    chip = recorded_chip(octets(sample["out_x_l_to_out_z_h"]))
    double = I2cDouble()
    double.attach(1, ADDRESS, chip)
    accelerometer = Lis3dh(double.bus(1), address=ADDRESS)

    async def scenario() -> Acceleration:
        await accelerometer.probe()
        return await accelerometer.read()

    got = asyncio.run(scenario())
    assert chip.data_writes() == SHEET["driver_configuration"]["writes"]
    assert chip.registers[REGISTER["CTRL_REG1"]] == number(sample["ctrl_reg1"])
    assert chip.registers[REGISTER["CTRL_REG4"]] == number(sample["ctrl_reg4"])
    assert bytes([REGISTER["OUT_X_L"] | AUTO_INCREMENT]) in chip.writes
    assert (got.x_g, got.y_g, got.z_g) == pytest.approx(tuple(sample["reads_as_g"]), abs=1e-9)


# ----- the simulated chip ----------------------------------------------------------------------
def test_simulator_powers_up_with_the_datasheet_reset_values() -> None:
    chip = Lis3dhChip()
    for name, entry in SHEET["registers"].items():
        if "reset" in entry:
            chip.write(bytes([number(entry["address"])]))
            assert chip.read(1) == bytes([number(entry["reset"])]), name


@pytest.mark.parametrize(
    "sample", SHEET["samples"], ids=lambda s: f"{s['mode']}-{s['full_scale_g']}g"
)
def test_simulator_outputs_the_datasheet_bytes(sample: dict[str, Any]) -> None:
    chip = Lis3dhChip()
    chip.write(bytes([REGISTER["CTRL_REG1"], number(sample["ctrl_reg1"])]))
    chip.write(bytes([REGISTER["CTRL_REG4"], number(sample["ctrl_reg4"])]))
    chip.acceleration = Acceleration(*sample["acceleration_g"])
    chip.write(bytes([REGISTER["OUT_X_L"] | AUTO_INCREMENT]))
    assert chip.read(6) == octets(sample["out_x_l_to_out_z_h"])


def test_simulator_reads_one_register_again_without_the_auto_increment_bit() -> None:
    chip = Lis3dhChip()
    chip.write(bytes([REGISTER["WHO_AM_I"]]))
    who_am_i = number(SHEET["registers"]["WHO_AM_I"]["reset"])
    assert chip.read(3) == bytes([who_am_i] * 3)
