"""Driver of Eastron SDM630 and SDM72D-M kWh meters over Modbus RTU (`EnergyMeter` protocol).

Values are IEEE-754 float32 in two input registers, high word first, at Eastron's published
addresses; `SDM_REGISTERS` says which model has which. A reading is one FC04 request covering
all of them; physically impossible values and energy going backwards are `DeviceGarbage`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.drivers.modbus import DeviceRef, ModbusBus, ModbusUnit
from runtime.hardware.types import MeterInfo, MeterReading
from schemas.metering import MeterType

DEVICE_NAME = "kWh meter"
SDM630: MeterType = "sdm630"
SDM72D: MeterType = "sdm72d"
MODEL_NAMES: Mapping[MeterType, str] = {SDM630: "Eastron SDM630", SDM72D: "Eastron SDM72D-M"}
_BOTH = frozenset({SDM630, SDM72D})

# Holding registers 0xFC00..0xFC01: serial number, u32 (both models).
HR_SERIAL_NUMBER = 0xFC00
_ERASED_SERIALS = (0x0000_0000, 0xFFFF_FFFF)
# Eastron protocol: at most 40 parameters (80 registers) per request.
MAX_SPAN_REGISTERS = 80
# Plausibility bounds of an AC installation up to 500 V phase voltage and 200 A per phase.
MAX_VOLTAGE_V = 500.0
MAX_CURRENT_A = 200.0
MAX_POWER_W = 3 * MAX_VOLTAGE_V * MAX_CURRENT_A
FREQUENCY_RANGE_HZ = (40.0, 70.0)


@dataclass(frozen=True)
class SdmRegister:
    """One float32 input register pair (manual's parameter) and the models that have it."""

    key: str
    address: int
    unit: str
    label: str
    models: frozenset[MeterType] = _BOTH


# The SDM72D v1 (without "-M") has only the power and energy registers and is not supported.
SDM_REGISTERS: tuple[SdmRegister, ...] = (
    SdmRegister("voltage_l1", 0x0000, "V", "Phase 1 line to neutral volts"),
    SdmRegister("voltage_l2", 0x0002, "V", "Phase 2 line to neutral volts"),
    SdmRegister("voltage_l3", 0x0004, "V", "Phase 3 line to neutral volts"),
    SdmRegister("current_l1", 0x0006, "A", "Phase 1 current"),
    SdmRegister("current_l2", 0x0008, "A", "Phase 2 current"),
    SdmRegister("current_l3", 0x000A, "A", "Phase 3 current"),
    SdmRegister("power", 0x0034, "W", "Total system power"),
    SdmRegister("frequency", 0x0046, "Hz", "Frequency of supply voltages"),
    SdmRegister("energy_import", 0x0048, "kWh", "Import active energy"),
    SdmRegister("energy_export", 0x004A, "kWh", "Export active energy"),
)


@dataclass(frozen=True)
class ReadSpan:
    """One FC04 request: `count` registers from `first`, holding `registers`."""

    first: int
    count: int
    registers: tuple[SdmRegister, ...]


def read_plan(model: MeterType) -> tuple[ReadSpan, ...]:
    """The fewest FC04 requests that cover every register `model` has."""
    spans: list[ReadSpan] = []
    ours = sorted((r for r in SDM_REGISTERS if model in r.models), key=lambda r: r.address)
    for register in ours:
        last = spans[-1] if spans else None
        if last is not None and register.address + 2 - last.first <= MAX_SPAN_REGISTERS:
            count = register.address + 2 - last.first
            spans[-1] = ReadSpan(last.first, count, (*last.registers, register))
        else:
            spans.append(ReadSpan(register.address, 2, (register,)))
    return tuple(spans)


def encode_float32(value: float) -> tuple[int, int]:
    """A float as Eastron's two register words (high word first)."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return int(high), int(low)


def decode_float32(high: int, low: int) -> float:
    """Two register words (high first) as a float."""
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value


def decode_values(
    plan: Sequence[ReadSpan], blocks: Sequence[Sequence[int]], ref: DeviceRef
) -> dict[str, float]:
    """The words of each span of `plan` → finite value per register key, or `DeviceGarbage`."""
    if len(blocks) != len(plan):
        raise ref.garbage(f"expected {len(plan)} register block(s), got {len(blocks)}")
    values: dict[str, float] = {}
    for span, words in zip(plan, blocks, strict=True):
        if len(words) != span.count or not all(0 <= word <= 0xFFFF for word in words):
            raise ref.garbage(f"block at 0x{span.first:04x}: {len(words)} bad word(s)")
        for register in span.registers:
            offset = register.address - span.first
            value = decode_float32(words[offset], words[offset + 1])
            if not math.isfinite(value):
                raise ref.garbage(
                    f"{register.label} (register 0x{register.address:04x}) is {value}"
                )
            values[register.key] = value
    return values


def reading_from_values(values: Mapping[str, float], ref: DeviceRef) -> MeterReading:
    """Register values → `MeterReading`, or `DeviceGarbage` if physically impossible."""
    reading = MeterReading(
        energy_import_kwh=values.get("energy_import", 0.0),
        energy_export_kwh=values.get("energy_export", 0.0),
        power_w=values.get("power", 0.0),
        voltages_v=(
            values.get("voltage_l1", 0.0),
            values.get("voltage_l2", 0.0),
            values.get("voltage_l3", 0.0),
        ),
        currents_a=(
            values.get("current_l1", 0.0),
            values.get("current_l2", 0.0),
            values.get("current_l3", 0.0),
        ),
        frequency_hz=values.get("frequency", 0.0),
    )
    if problem := _implausibility(reading):
        raise ref.garbage(problem)
    return reading


def _implausibility(reading: MeterReading) -> str | None:
    if reading.energy_import_kwh < 0 or reading.energy_export_kwh < 0:
        return (
            f"negative energy: import {reading.energy_import_kwh} kWh, "
            f"export {reading.energy_export_kwh} kWh"
        )
    for phase, volts in enumerate(reading.voltages_v, start=1):
        if not 0 <= volts <= MAX_VOLTAGE_V:
            return f"L{phase} voltage {volts} V is outside 0..{MAX_VOLTAGE_V:g} V"
    for phase, amps in enumerate(reading.currents_a, start=1):
        if abs(amps) > MAX_CURRENT_A:
            return f"L{phase} current {amps} A is beyond ±{MAX_CURRENT_A:g} A"
    if abs(reading.power_w) > MAX_POWER_W:
        return f"total power {reading.power_w} W is beyond ±{MAX_POWER_W:g} W"
    low_hz, high_hz = FREQUENCY_RANGE_HZ
    if reading.frequency_hz != 0 and not low_hz <= reading.frequency_hz <= high_hz:
        return f"frequency {reading.frequency_hz} Hz is outside {low_hz:g}..{high_hz:g} Hz"
    return None


def decode_reading(
    model: MeterType, blocks: Sequence[Sequence[int]], ref: DeviceRef
) -> MeterReading:
    """The words of `read_plan(model)` → `MeterReading`, or `DeviceGarbage`."""
    return reading_from_values(decode_values(read_plan(model), blocks, ref), ref)


class SdmMeter:
    """An Eastron SDM630 / SDM72D-M at `unit` on `bus` (`EnergyMeter` protocol)."""

    def __init__(
        self, bus: ModbusBus, unit: int, model: MeterType, *, device: str = DEVICE_NAME
    ) -> None:
        self._unit = ModbusUnit(bus, unit, device)
        self._model = model
        self._plan = read_plan(model)
        self._last: MeterReading | None = None

    @property
    def unit(self) -> ModbusUnit:
        """Bus, unit address and device name of this meter."""
        return self._unit

    async def probe(self) -> MeterInfo:
        """Read the serial number (holding 0xFC00, u32)."""
        high, low = await self._unit.read_holding_registers(HR_SERIAL_NUMBER, 2)
        serial = high << 16 | low
        if serial in _ERASED_SERIALS:
            raise self._unit.ref.garbage(
                f"serial number 0x{serial:08x} (register 0x{HR_SERIAL_NUMBER:04x}) is an erased "
                "value, not a meter's; check the meter type and address"
            )
        return MeterInfo(model=MODEL_NAMES[self._model], serial_number=serial)

    async def read(self) -> MeterReading:
        """One reading; energy lower than this driver's last good reading is garbage."""
        blocks = [
            await self._unit.read_input_registers(span.first, span.count) for span in self._plan
        ]
        reading = decode_reading(self._model, blocks, self._unit.ref)
        last = self._last
        if last is not None:
            for what, before, now in (
                ("import", last.energy_import_kwh, reading.energy_import_kwh),
                ("export", last.energy_export_kwh, reading.energy_export_kwh),
            ):
                if now < before:
                    raise self._unit.ref.garbage(
                        f"{what} energy went backwards from {before} kWh to {now} kWh "
                        "(meter replaced or reset?)"
                    )
        self._last = reading
        return reading
