"""Metering: the internal MID kWh meter and the external metering used for balancing.

External metering is one of: none, CT clamps (analog on the screw terminals, or digital over
RS485), the P1 port of a DSMR smart meter, or a Modbus kWh meter on the external RS485 bus.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from schemas.base import ProfileModel, Violation, cross_field_rule

ModbusAddress = Annotated[int, Field(ge=1, le=247, description="Modbus unit address [1-247]")]
MeterType = Literal["sdm630", "sdm72d"]


class InternalMeter(ProfileModel):
    """The MID-certified kWh meter inside the charger (billing data)."""

    type: MeterType = Field("sdm630", description="Internal kWh meter model")
    modbus_address: ModbusAddress = 2


class CtClamp(ProfileModel):
    """One CT clamp row of the Installer page's External Metering table."""

    enabled: bool = Field(True, description="On/Off")
    type: Literal["site", "source", "load"] = Field(
        "site",
        description="Type: Site (building connection), Source (solar generation) or Load",
    )
    rating_a: int = Field(80, ge=5, le=2000, description="Rating [A] (printed on the clamp)")


def _three_clamps() -> tuple[CtClamp, CtClamp, CtClamp]:
    return (CtClamp(), CtClamp(), CtClamp())


class NoExternalMetering(ProfileModel):
    """External Metering: none."""

    kind: Literal["none"] = "none"


class CtClampMetering(ProfileModel):
    """External Metering: CT clamps on CT1..CT3, analog terminals or digital over RS485."""

    kind: Literal["ct_clamps"] = "ct_clamps"
    interface: Literal["analog", "rs485"] = Field(
        "analog", description="Clamp interface: analog (screw terminals) or digital RS485"
    )
    modbus_address: ModbusAddress | None = Field(
        None, description="Modbus address of the digital clamp module (RS485 only)"
    )
    clamps: tuple[CtClamp, ...] = Field(
        default_factory=_three_clamps,
        min_length=1,
        max_length=3,
        description="CT Clamps (Clamp #1..#3 on CT1..CT3)",
    )

    @property
    def enabled_clamps(self) -> tuple[CtClamp, ...]:
        """The clamps that are switched on."""
        return tuple(clamp for clamp in self.clamps if clamp.enabled)

    @cross_field_rule
    def rs485_clamps_need_an_address(self) -> Iterator[Violation]:
        if self.interface == "rs485" and self.modbus_address is None:
            yield Violation(("modbus_address",), "digital (RS485) CT clamps need a Modbus address")
        if self.interface == "analog" and self.modbus_address is not None:
            yield Violation(
                ("modbus_address",), "analog CT clamps have no Modbus address; remove it"
            )

    @cross_field_rule
    def at_least_one_clamp_enabled(self) -> Iterator[Violation]:
        if not self.enabled_clamps:
            yield Violation(("clamps",), "CT clamp metering needs at least one clamp switched on")


class P1Metering(ProfileModel):
    """External Metering: the P1 port (RJ12) of a DSMR smart meter."""

    kind: Literal["p1"] = "p1"
    dsmr_version: Literal["4.0", "4.2", "5.0"] = Field(
        "5.0", description="DSMR version of the smart meter"
    )
    telegram_timeout_s: float = Field(
        10.0, ge=2, le=60, description="No telegram for this long counts as meter data lost [s]"
    )


class ModbusMeterMetering(ProfileModel):
    """External Metering: a Modbus kWh meter at the building connection (external RS485 bus)."""

    kind: Literal["modbus_meter"] = "modbus_meter"
    type: MeterType = Field("sdm630", description="External kWh meter model")
    modbus_address: ModbusAddress = 1


ExternalMetering = Annotated[
    NoExternalMetering | CtClampMetering | P1Metering | ModbusMeterMetering,
    Field(discriminator="kind"),
]


class Metering(ProfileModel):
    """Internal meter plus the Installer page's "External Metering"."""

    internal_meter: InternalMeter = Field(default_factory=InternalMeter)
    external: ExternalMetering = Field(
        default_factory=NoExternalMetering, description="External Metering"
    )

    @property
    def measures_site(self) -> bool:
        """True when the building's own consumption is measured (needed for dynamic balancing)."""
        external = self.external
        if isinstance(external, CtClampMetering):
            return any(clamp.type == "site" for clamp in external.enabled_clamps)
        return not isinstance(external, NoExternalMetering)

    @property
    def measures_source(self) -> bool:
        """True when solar generation or export is measured (needed for solar balancing).

        Site clamps are direction-sensitive (manual 4.2.3: the arrow points with the current),
        so export to the grid shows as negative site current: they measure the source too.
        """
        external = self.external
        if isinstance(external, CtClampMetering):
            return any(clamp.type in ("site", "source") for clamp in external.enabled_clamps)
        return isinstance(external, P1Metering | ModbusMeterMetering)
