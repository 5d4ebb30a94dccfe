"""The PCA9634 driver and the simulated PCA9634, each against NXP's datasheet.

tests/fixtures/datasheets/pca9634.json records the register map, reset values, the control
register's auto-increment options and the writes our use of the chip takes; the driver must
send exactly those writes, and the simulated chip must follow the map and the options.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.drivers.pca9634 import Pca9634
from runtime.hardware.types import Rgbw
from runtime.sim.pca9634_chip import Pca9634Chip
from runtime.sim.smbus_double import I2cDouble
from tests.fixtures.datasheet import RecordedRegisterChip, load, number, octets

SHEET = load("pca9634")
REGISTER = {name: number(entry["address"]) for name, entry in SHEET["registers"].items()}
RESET = {name: number(entry["reset"]) for name, entry in SHEET["registers"].items()}
TRANSACTIONS = SHEET["driver_transactions"]
AUTO_INCREMENT_ALL = 0x80
ADDRESS = 0x30


def driver_on_recorded_chip() -> tuple[Pca9634, RecordedRegisterChip]:
    chip = RecordedRegisterChip({REGISTER[n]: v for n, v in RESET.items()}, AUTO_INCREMENT_ALL)
    double = I2cDouble()
    double.attach(1, ADDRESS, chip)
    return Pca9634(double.bus(1), address=ADDRESS, buzzer_channel=4), chip


# ----- the driver ------------------------------------------------------------------------------
def test_driver_sets_the_chip_up_with_the_datasheet_writes() -> None:
    led, chip = driver_on_recorded_chip()
    asyncio.run(led.probe())
    assert chip.data_writes() == TRANSACTIONS["probe"]["writes"]


def test_driver_shows_a_colour_with_one_auto_increment_write_from_pwm0() -> None:
    led, chip = driver_on_recorded_chip()
    show = TRANSACTIONS["show_rgbw"]

    async def scenario() -> None:
        await led.probe()
        chip.writes.clear()
        await led.show(Rgbw(*show["colour"]))

    asyncio.run(scenario())
    assert chip.data_writes() == show["writes"]


def test_driver_beeps_on_the_buzzer_channel_pwm_register() -> None:
    led, chip = driver_on_recorded_chip()
    beep = TRANSACTIONS["beep_on_channel_4"]

    async def scenario() -> None:
        await led.probe()
        chip.writes.clear()
        await led.beep(0.0)

    asyncio.run(scenario())
    assert chip.data_writes() == beep["writes"]
    assert number(beep["level"]) == octets(beep["writes"][0])[1]


# ----- the simulated chip ----------------------------------------------------------------------
def test_simulator_powers_up_with_the_datasheet_reset_values() -> None:
    chip = Pca9634Chip()
    for name, address in REGISTER.items():
        chip.write(bytes([address]))
        assert chip.read(1) == bytes([RESET[name]]), name


@pytest.mark.parametrize("option", SHEET["auto_increment"], ids=lambda o: o["what"])
def test_simulator_rolls_over_as_the_auto_increment_option_says(option: dict[str, Any]) -> None:
    chip = Pca9634Chip()
    control = number(option["control"])
    if option["rolls_over"] is None:
        chip.write(bytes([control | REGISTER["PWM0"], 0x11, 0x22]))
        assert chip.register(REGISTER["PWM0"]) == 0x22  # both bytes land in the same register
        assert chip.register(REGISTER["PWM1"]) == 0x00
        return
    first, last = (number(address) for address in option["rolls_over"])
    chip.write(bytes([control | last, 0x5A, 0x0C]))  # the second byte rolls over to `first`
    assert chip.registers[last] == 0x5A
    assert chip.registers[first] == 0x0C


def test_simulator_shows_the_colour_the_driver_transactions_set() -> None:
    chip = Pca9634Chip(buzzer_channel=4)
    for write in (*TRANSACTIONS["probe"]["writes"], *TRANSACTIONS["show_rgbw"]["writes"]):
        chip.write(octets(write))
    assert chip.colour() == Rgbw(*TRANSACTIONS["show_rgbw"]["colour"])
    first, last = TRANSACTIONS["beep_on_channel_4"]["writes"]
    chip.write(octets(first))
    assert chip.buzzer_on
    chip.write(octets(last))
    assert not chip.buzzer_on


def test_simulator_mode1_reads_back_the_auto_increment_bits() -> None:
    chip = Pca9634Chip()
    chip.write(bytes([AUTO_INCREMENT_ALL | REGISTER["MODE1"]]))
    assert chip.read(1) == bytes([AUTO_INCREMENT_ALL | RESET["MODE1"]])
