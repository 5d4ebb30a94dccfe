"""The station: who made the charger, what it is called and which licensed features it has.

The charger identity itself is a device secret created at first boot from `identity_prefix`;
the profile only says how identities of this product look.
"""

from __future__ import annotations

from pydantic import Field

from schemas.base import ProfileModel


class Station(ProfileModel):
    """Vendor, model and identity scheme shown on the General Information page."""

    vendor: str = Field(
        "Volt Time",
        min_length=1,
        max_length=20,
        description="Charger Vendor (OCPP chargePointVendor)",
    )
    model: str = Field(
        "Source", min_length=1, max_length=20, description="Charger Model (OCPP chargePointModel)"
    )
    identity_prefix: str = Field(
        "VT_",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
        description="Charger Identity prefix (identity = prefix + 7 digits, e.g. VT_0004272)",
    )
    load_balancing_licensed: bool = Field(
        False, description="Load balancing licensed (shows the Load page)"
    )
