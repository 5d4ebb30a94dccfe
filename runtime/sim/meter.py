"""Register-level model of an Eastron SDM630 / SDM72D-M kWh meter in the charger's supply.

Serves Eastron's published input registers (`eastron_registers`, not the driver's table) as
float32 words. Energy integrates the power of the currents it is given (PF 1) in `tick()`,
so it rises while the car charges and never goes backwards (unless `reset_counters()`).
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.sim import eastron_registers as eastron
from runtime.sim.register_device import IllegalAddress, RegisterSpan, check_span
from schemas.metering import MeterType

_JOULES_PER_KWH = 3.6e6
NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0


class SimMeter:
    """The simulated kWh meter (a `RegisterDevice`)."""

    holding_span = RegisterSpan(eastron.SERIAL_NUMBER_REGISTER, 2)

    def __init__(
        self,
        model: MeterType = eastron.SDM630,
        *,
        serial_number: int = 21_000_123,
        energy_import_kwh: float = 0.0,
    ) -> None:
        self.model = model
        self.serial_number = serial_number
        self.voltages_v: tuple[float, float, float] = (NOMINAL_VOLTAGE_V,) * 3
        self.frequency_hz = NOMINAL_FREQUENCY_HZ
        self.currents_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._import_kwh = energy_import_kwh
        self._export_kwh = 0.0
        self._registers = dict(eastron.INPUT_REGISTERS[model])
        self.input_span = RegisterSpan(0, max(self._registers) + 2)

    @property
    def power_w(self) -> float:
        """Total active power at power factor 1 (negative when exporting)."""
        return sum(v * i for v, i in zip(self.voltages_v, self.currents_a, strict=True))

    @property
    def energy_import_kwh(self) -> float:
        """Import register."""
        return self._import_kwh

    @property
    def energy_export_kwh(self) -> float:
        """Export register."""
        return self._export_kwh

    def tick(self, dt_s: float) -> None:
        """Integrate energy over `dt_s` at the present power."""
        kwh = self.power_w * dt_s / _JOULES_PER_KWH
        if kwh >= 0:
            self._import_kwh += kwh
        else:
            self._export_kwh -= kwh

    def reset_counters(self) -> None:
        """A new meter in place of the old one: both counters start again at zero."""
        self._import_kwh = 0.0
        self._export_kwh = 0.0

    def _value(self, key: str) -> float:
        v1, v2, v3 = self.voltages_v
        i1, i2, i3 = self.currents_a
        values = {
            "voltage_l1": v1,
            "voltage_l2": v2,
            "voltage_l3": v3,
            "current_l1": i1,
            "current_l2": i2,
            "current_l3": i3,
            "power": self.power_w,
            "frequency": self.frequency_hz,
            "energy_import": self._import_kwh,
            "energy_export": self._export_kwh,
        }
        return values[key]

    def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC04: float32 pairs; registers the model does not define read 0, as on Eastron."""
        check_span(self.input_span, address, count, "input")
        words = [0] * self.input_span.count
        for register, key in self._registers.items():
            words[register], words[register + 1] = eastron.float_words(self._value(key))
        return words[address : address + count]

    def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC03: the serial number (u32)."""
        check_span(self.holding_span, address, count, "holding")
        words = [self.serial_number >> 16 & 0xFFFF, self.serial_number & 0xFFFF]
        first = address - self.holding_span.first
        return words[first : first + count]

    def write_holding_registers(self, address: int, values: Sequence[int]) -> None:
        """The simulated meter's settings are read-only."""
        raise IllegalAddress(f"{len(values)} register(s) at {address}: meter is read-only here")
