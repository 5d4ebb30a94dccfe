"""The Eastron meter driver and the simulated meter, each against Eastron's register tables.

tests/fixtures/datasheets/eastron_sdm.json records, from the SDM630 and SDM72D-M protocol
documents, where each quantity lives and how a known value is encoded; the driver must read
those values from a recorded register image, and the simulated meter must serve those bytes.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from runtime.drivers.sdm_meter import SdmMeter
from runtime.sim.local_modbus import LocalModbusBus
from runtime.sim.meter import SimMeter
from schemas.metering import MeterType
from tests.fixtures.datasheet import RecordedRegisters, load, number, octets, words_of

SHEET = load("eastron_sdm")
MODELS: list[MeterType] = SHEET["models"]
REGISTERS: list[dict[str, Any]] = SHEET["input_registers"]
VALUE = {register["quantity"]: register["value"] for register in REGISTERS}
UNIT = 1


def recorded_meter() -> RecordedRegisters:
    """Every input register up to the last recorded one (unlisted ones read 0, as on Eastron)."""
    last = max(number(register["address"]) for register in REGISTERS) + 1
    image = dict.fromkeys(range(last + 1), 0)
    for register in REGISTERS:
        high, low = words_of(register["bytes"])
        address = number(register["address"])
        image[address], image[address + 1] = high, low
    serial = SHEET["serial_number"]
    holding = dict(enumerate(words(serial["words"]), start=number(serial["address"])))
    return RecordedRegisters(image, holding)


def words(values: list[str]) -> list[int]:
    return [number(value) for value in values]


@pytest.mark.parametrize("example", SHEET["float_examples"], ids=lambda e: str(e["value"]))
def test_the_fixture_floats_are_ieee_754_single_big_endian(example: dict[str, Any]) -> None:
    assert struct.unpack(">f", octets(example["bytes"]))[0] == example["value"]


@pytest.mark.parametrize("register", REGISTERS, ids=lambda r: r["quantity"])
def test_the_fixture_addresses_are_the_register_numbers_less_30001(
    register: dict[str, Any],
) -> None:
    assert number(register["address"]) == register["register"] - 30001


# ----- the driver ------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_driver_reads_every_quantity_from_its_eastron_address(model: MeterType) -> None:
    device = recorded_meter()
    meter = SdmMeter(LocalModbusBus({UNIT: device}), UNIT, model)
    reading = asyncio.run(meter.read())
    assert reading.voltages_v == (VALUE["voltage_l1"], VALUE["voltage_l2"], VALUE["voltage_l3"])
    assert reading.currents_a == (VALUE["current_l1"], VALUE["current_l2"], VALUE["current_l3"])
    assert reading.power_w == VALUE["power"]
    assert reading.frequency_hz == pytest.approx(VALUE["frequency"], abs=1e-5)
    assert reading.energy_import_kwh == VALUE["energy_import"]
    assert reading.energy_export_kwh == VALUE["energy_export"]
    assert all(function == 4 for function, _, _ in device.reads)


@pytest.mark.parametrize("model", MODELS)
def test_driver_probe_reads_the_serial_number_holding_registers(model: MeterType) -> None:
    device = recorded_meter()
    serial = SHEET["serial_number"]
    meter = SdmMeter(LocalModbusBus({UNIT: device}), UNIT, model)
    info = asyncio.run(meter.probe())
    assert info.serial_number == serial["value"]
    assert device.reads == [(serial["function"], number(serial["address"]), serial["count"])]


# ----- the simulated meter ---------------------------------------------------------------------
def sim_meter(model: MeterType) -> SimMeter:
    meter = SimMeter(
        model,
        serial_number=SHEET["serial_number"]["value"],
        energy_import_kwh=VALUE["energy_import"],
    )
    meter.voltages_v = (VALUE["voltage_l1"], VALUE["voltage_l2"], VALUE["voltage_l3"])
    meter.currents_a = (VALUE["current_l1"], VALUE["current_l2"], VALUE["current_l3"])
    meter.frequency_hz = VALUE["frequency"]
    return meter


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("register", REGISTERS, ids=lambda r: r["quantity"])
def test_simulator_serves_each_quantity_at_its_eastron_address(
    model: MeterType, register: dict[str, Any]
) -> None:
    served = sim_meter(model).read_input_registers(number(register["address"]), 2)
    assert served == words_of(register["bytes"])


@pytest.mark.parametrize("model", MODELS)
def test_simulator_serves_the_serial_number_holding_registers(model: MeterType) -> None:
    serial = SHEET["serial_number"]
    served = sim_meter(model).read_holding_registers(number(serial["address"]), serial["count"])
    assert served == words(serial["words"])
