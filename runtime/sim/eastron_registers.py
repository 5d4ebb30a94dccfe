"""The simulated kWh meters' Modbus map, written from Eastron's published protocol tables.

SDM630 Modbus V2 and SDM72D-M v2: measurements are IEEE-754 float32 input registers (FC 0x04),
high word first, at 0-based protocol addresses (30001 is 0x0000); the serial number is holding
register pair 0xFC00 (FC 0x03). Apart from the driver's table on purpose (see STYLE.md).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from schemas.metering import MeterType

SDM630: MeterType = "sdm630"
SDM72D: MeterType = "sdm72d"
SERIAL_NUMBER_REGISTER = 0xFC00  # 464513 "Serial number", u32 in two words

# Protocol address -> quantity the simulated meter serves there (Eastron "Start Address Hex").
_THREE_PHASE_METER: Mapping[int, str] = {
    0x0000: "voltage_l1",  # 30001 Phase 1 line to neutral volts
    0x0002: "voltage_l2",  # 30003
    0x0004: "voltage_l3",  # 30005
    0x0006: "current_l1",  # 30007 Phase 1 current
    0x0008: "current_l2",  # 30009
    0x000A: "current_l3",  # 30011
    0x0034: "power",  # 30053 Total system power
    0x0046: "frequency",  # 30071 Frequency of supply voltages
    0x0048: "energy_import",  # 30073 Import active energy (kWh)
    0x004A: "energy_export",  # 30075 Export active energy (kWh)
}
INPUT_REGISTERS: Mapping[MeterType, Mapping[int, str]] = {
    SDM630: _THREE_PHASE_METER,
    SDM72D: _THREE_PHASE_METER,
}


def float_words(value: float) -> tuple[int, int]:
    """A value as Eastron's two input register words: IEEE-754 single, high word first."""
    raw = struct.pack(">f", value)
    return raw[0] << 8 | raw[1], raw[2] << 8 | raw[3]
