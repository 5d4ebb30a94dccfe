"""Load balancing (the manual's Load page): static or dynamic, plus solar TopUpEco.

Static never offers more than the site limit minus margin; dynamic follows the building's
measured consumption so the main fuse never overloads. When meter data is lost the charger
falls back to `failsafe_current_a` (0 stops charging).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from schemas.base import ProfileModel, Violation, cross_field_rule
from schemas.electrical import MIN_CHARGING_CURRENT_A


class Balancing(ProfileModel):
    """Load Balancing settings."""

    enabled: bool = Field(False, description="Load Balancing Enabled")
    mode: Literal["static", "dynamic"] = Field("static", description="Load Balancing Mode")
    margin_a: float = Field(
        0.0, ge=0, le=100, description="Load Balancing Margin [A] (always kept free)"
    )
    site_limit_a: float = Field(
        100.0, ge=6, le=2000, description="Site Limit [A] (main connection, per phase)"
    )
    min_change_a: float = Field(0.1, ge=0, le=10, description="Load Balancing Minimum Change [A]")
    min_delay_s: float = Field(10.0, ge=0, le=600, description="Load Balancing Minimum Delay [s]")
    min_topup_a: float = Field(
        8.0, ge=6, le=63, description="Load Balancing Minimum TopUp Charge [A]"
    )
    topup_eco_export_threshold_a: float = Field(
        0.2, ge=0, le=63, description="TopUpEco Minimum Export Threshold [A]"
    )
    solar_mode: Literal["off", "solar", "topup_eco"] = Field(
        "off",
        description=(
            "Dynamic Solar Balancing: off, solar (export surplus only) or topup_eco"
            " (minimum top-up plus surplus)"
        ),
    )
    failsafe_current_a: float = Field(
        6.0,
        ge=0,
        le=63,
        description="Fail-safe current when meter data is lost [A] (0 = stop)",
        json_schema_extra={"anyOf": [{"const": 0}, {"minimum": MIN_CHARGING_CURRENT_A}]},
    )
    meter_timeout_s: float = Field(
        10.0, ge=1, le=120, description="Meter data older than this counts as lost [s]"
    )

    @cross_field_rule
    def site_limit_leaves_room_to_charge(self) -> Iterator[Violation]:
        if self.site_limit_a < MIN_CHARGING_CURRENT_A + self.margin_a:
            yield Violation(
                ("site_limit_a",),
                f"site limit must be at least {MIN_CHARGING_CURRENT_A:g} A plus the margin"
                f" ({MIN_CHARGING_CURRENT_A + self.margin_a:g} A)",
            )

    @cross_field_rule
    def failsafe_current_is_zero_or_chargeable(self) -> Iterator[Violation]:
        if 0 < self.failsafe_current_a < MIN_CHARGING_CURRENT_A:
            yield Violation(
                ("failsafe_current_a",),
                f"fail-safe current must be 0 (stop) or at least {MIN_CHARGING_CURRENT_A:g} A",
            )
