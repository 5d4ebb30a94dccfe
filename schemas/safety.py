"""Safety settings: tilt/bump detection, over-temperature derating and overcurrent tolerance.

The RCM (6 mA DC, IEC 62955) cannot be switched off and so has no setting here.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from schemas.base import ProfileModel, Violation, cross_field_rule


class TiltBump(ProfileModel):
    """Installer page "Tilt/Bump Detection"."""

    enabled: bool = Field(False, description="Tilt/Bump Detection Enabled")
    tilt_angle_deg: int = Field(20, ge=1, le=80, description="Tilt Angle [1 - 80°]")
    bump_acceleration_g: int = Field(7, ge=1, le=15, description="Bump Acceleration [1 - 15g]")


class Temperature(ProfileModel):
    """EVSE temperature limits: derate in steps from `derate_from_c`, stop at `stop_at_c`."""

    derate_from_c: float = Field(70.0, ge=40, le=100, description="Power throttling starts at [°C]")
    stop_at_c: float = Field(85.0, ge=45, le=110, description="Charging stops at [°C]")

    @cross_field_rule
    def derating_starts_below_stop(self) -> Iterator[Violation]:
        if self.derate_from_c >= self.stop_at_c:
            yield Violation(
                ("derate_from_c",), "power throttling must start below the stop temperature"
            )


class Overcurrent(ProfileModel):
    """When the car draws more than offered for too long, the session is stopped."""

    tolerance_a: float = Field(
        2.0, ge=0.5, le=10, description="Allowed excess over the offered current [A]"
    )
    max_duration_s: float = Field(
        5.0, ge=1, le=60, description="Excess longer than this stops charging [s]"
    )


class Safety(ProfileModel):
    """Safety section of a profile."""

    tilt_bump: TiltBump = Field(default_factory=TiltBump)
    temperature: Temperature = Field(default_factory=Temperature)
    overcurrent: Overcurrent = Field(default_factory=Overcurrent)
