"""The root of a ChargeOS profile and the rules that span several sections.

Each section validates alone first (its own fields and rules); the rules here run last, over
the whole profile, like ESPHome's final validation step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from schemas.authorization import Authorization
from schemas.balancing import Balancing
from schemas.base import ProfileModel, Violation, cross_field_rule
from schemas.csms import Csms
from schemas.electrical import Electrical
from schemas.hardware import Hardware
from schemas.metering import CtClampMetering, Metering
from schemas.network import Network
from schemas.safety import Safety
from schemas.station import Station
from schemas.system import System
from schemas.webui import WebUi

SCHEMA_VERSION: Literal[1] = 1


class Profile(ProfileModel):
    """A complete charger configuration: everything the services need to run."""

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Profile format version")
    station: Station = Field(default_factory=Station)
    electrical: Electrical = Field(default_factory=Electrical)
    metering: Metering = Field(default_factory=Metering)
    balancing: Balancing = Field(default_factory=Balancing)
    authorization: Authorization = Field(default_factory=Authorization)
    csms: Csms = Field(default_factory=Csms)
    network: Network = Field(default_factory=Network)
    safety: Safety = Field(default_factory=Safety)
    system: System = Field(default_factory=System)
    hardware: Hardware = Field(default_factory=Hardware)
    webui: WebUi = Field(default_factory=WebUi)

    @cross_field_rule
    def clamps_match_the_phases(self) -> Iterator[Violation]:
        external = self.metering.external
        if not isinstance(external, CtClampMetering):
            return
        site_clamps = [c for c in external.enabled_clamps if c.type == "site"]
        if site_clamps and len(site_clamps) != self.electrical.phases:
            yield Violation(
                ("metering", "external", "clamps"),
                f"{len(site_clamps)} site clamp(s) switched on for a {self.electrical.phases}-phase"
                f" connection: use {self.electrical.phases} (manual 4.2.3)",
            )

    @cross_field_rule
    def balancing_needs_a_licence(self) -> Iterator[Violation]:
        if self.balancing.enabled and not self.station.load_balancing_licensed:
            yield Violation(
                ("balancing", "enabled"),
                "load balancing is not licensed on this charger (station.load_balancing_licensed)",
            )

    @cross_field_rule
    def dynamic_balancing_needs_site_metering(self) -> Iterator[Violation]:
        balancing = self.balancing
        if balancing.enabled and balancing.mode == "dynamic" and not self.metering.measures_site:
            yield Violation(
                ("balancing", "mode"),
                "dynamic load balancing needs external metering of the site"
                " (site CT clamps, P1 or a Modbus meter)",
            )

    @cross_field_rule
    def solar_balancing_needs_source_metering(self) -> Iterator[Violation]:
        balancing = self.balancing
        if (
            balancing.enabled
            and balancing.solar_mode != "off"
            and not self.metering.measures_source
        ):
            yield Violation(
                ("balancing", "solar_mode"),
                "solar balancing needs source CT clamps, P1 or a Modbus meter",
            )

    @cross_field_rule
    def failsafe_current_within_charger_limit(self) -> Iterator[Violation]:
        if self.balancing.failsafe_current_a > self.electrical.current_limit_a:
            yield Violation(
                ("balancing", "failsafe_current_a"),
                "fail-safe current cannot exceed the charger current limit"
                f" ({self.electrical.current_limit_a} A)",
            )

    @cross_field_rule
    def internal_bus_addresses_are_unique(self) -> Iterator[Violation]:
        meter_address = self.metering.internal_meter.modbus_address
        if meter_address == self.hardware.power_board_address:
            yield Violation(
                ("metering", "internal_meter", "modbus_address"),
                f"address {meter_address} is already the power board's on the internal RS485 bus",
            )
