"""The charger's electrical connection: phases, phase rotation, current limits, ventilation.

Phase rotation follows manual 4.2.3: the setting names, in order, the grid phases that the
charger's L1, L2 and L3 are wired to; CT1..CT3 are clamped on the grid phases in that order.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from schemas.base import ProfileModel, Violation, cross_field_rule, json_schema_rules, when

MIN_CHARGING_CURRENT_A = 6.0  # IEC 61851-1 Annex A: 6 A is the lowest current PWM can offer


class PhaseRotation(StrEnum):
    """Phase Connection: which grid phase (R, S, T = L1, L2, L3) feeds charger L1, L2, L3."""

    RST = "RST"
    RTS = "RTS"
    SRT = "SRT"
    STR = "STR"
    TRS = "TRS"
    TSR = "TSR"

    def grid_phase_of(self, charger_phase: int) -> int:
        """Grid phase (1..3) wired to the charger's phase `charger_phase` (1..3)."""
        return "RST".index(self.value[charger_phase - 1]) + 1


class Electrical(ProfileModel):
    """Installer page "Phase Settings" and "Charger Current Limit", and the site's ventilation."""

    model_config = ConfigDict(
        json_schema_extra=json_schema_rules(
            (when(phases={"const": 1}), {"properties": {"phase_rotation": {"const": "RST"}}}),
        )
    )

    phases: Literal[1, 3] = Field(3, description="Phase Selection (Single-Phase or Three-Phase)")
    phase_rotation: PhaseRotation = Field(
        PhaseRotation.RST, description="Phase Connection (RST = L1-L2-L3)"
    )
    current_limit_a: int = Field(
        32,
        ge=6,
        le=63,
        description="Charger Current Limit [6 - 63A]; must match the breaker in the meter cabinet",
    )
    cable_limit_a: Literal[13, 20, 32, 63] = Field(
        32, description="Fixed cable rating [A] (IEC 62196 Type 2 cable: 13, 20, 32 or 63)"
    )
    earthing_system: Literal["TN", "TT"] = Field(
        "TN", description="Earthing system (TN or TT; IT grids are not supported)"
    )
    nominal_voltage_v: Literal[230, 240] = Field(230, description="Nominal phase voltage [V]")
    frequency_hz: Literal[50, 60] = Field(50, description="Grid frequency [Hz]")
    ventilation_available: bool = Field(
        False,
        description=(
            "Charging Area Ventilation (charge a car that requests ventilation, IEC 61851-1"
            " state D; off: such a car gets no energy and the charger shows a fault)"
        ),
    )

    @cross_field_rule
    def phase_rotation_needs_three_phases(self) -> Iterator[Violation]:
        if self.phases == 1 and self.phase_rotation is not PhaseRotation.RST:
            yield Violation(
                ("phase_rotation",),
                "phase rotation applies to a 3-phase connection only; use RST on 1-phase",
            )

    @property
    def effective_limit_a(self) -> int:
        """The highest current the charger may ever offer: breaker and cable both respected."""
        return min(self.current_limit_a, self.cable_limit_a)
