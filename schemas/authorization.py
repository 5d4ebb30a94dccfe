"""Authorization: RFID, plug & charge with a default id tag, offline rules and local cards.

Plug & charge (manual 5.3) is RFID disabled plus "Default Id Tag mode": plugging in starts a
session billed to `default_id_tag`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from schemas.base import ProfileModel, Violation, cross_field_rule, json_schema_rules, when

# OCPP 1.6 IdToken is CiString20; RFID UIDs are written as upper-case hex.
IdTag = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[\x21-\x7e]+$")]
CardUid = Annotated[str, StringConstraints(pattern=r"^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")]


class LocalCard(ProfileModel):
    """A card on the local authorization list (works without the backoffice)."""

    uid: CardUid = Field(description="RFID Tag UID (4, 7 or 10 bytes, upper-case hex)")
    label: str = Field("", max_length=40, description="Card holder or description")
    expires: dt.date | None = Field(None, description="Last day the card is accepted")


class Authorization(ProfileModel):
    """CSMS page: Offline Authorisation, Default Id Tag mode, Sound, RFID Enabled."""

    model_config = ConfigDict(
        json_schema_extra=json_schema_rules(
            (
                when(rfid_enabled={"const": False}),
                when(default_id_tag_mode={"const": "default_id_tag"}),
            ),
        )
    )

    rfid_enabled: bool = Field(True, description="RFID Enabled")
    sound_enabled: bool = Field(True, description="Sound Notification")
    offline_authorisation: Literal["csms", "offline"] = Field(
        "csms",
        description="Offline Authorisation: Authorisation via CSMS server, or offline (local list)",
    )
    default_id_tag_mode: Literal["authorisation_required", "default_id_tag"] = Field(
        "authorisation_required", description="Default Id Tag mode"
    )
    default_id_tag: IdTag = Field(
        "default", description="Default Id Tag (Default Id Tag mode only)"
    )
    local_cards: tuple[LocalCard, ...] = Field((), description="Local card list")
    cache_enabled: bool = Field(
        True, description="Authorization cache (cards accepted by the CSMS work offline)"
    )
    csms_timeout_s: float = Field(
        5.0, ge=1, le=60, description="Wait this long for the CSMS to accept a card [s]"
    )
    connection_timeout_s: int = Field(
        60, ge=10, le=600, description="Connection timeout: a card waits this long for a cable [s]"
    )
    unknown_card_when_offline: Literal["reject", "accept"] = Field(
        "reject", description="A card unknown locally while the CSMS is unreachable"
    )

    @cross_field_rule
    def plug_and_charge_needs_default_id_tag(self) -> Iterator[Violation]:
        if not self.rfid_enabled and self.default_id_tag_mode != "default_id_tag":
            yield Violation(
                ("default_id_tag_mode",),
                "with RFID disabled (plug & charge) the Default Id Tag mode must be"
                " default_id_tag, or nobody could start a session",
            )

    @cross_field_rule
    def local_card_uids_are_unique(self) -> Iterator[Violation]:
        seen: set[str] = set()
        for index, card in enumerate(self.local_cards):
            if card.uid in seen:
                yield Violation(("local_cards", index, "uid"), f"card {card.uid} is listed twice")
            seen.add(card.uid)

    @cross_field_rule
    def offline_needs_a_way_to_authorize(self) -> Iterator[Violation]:
        if (
            self.offline_authorisation == "offline"
            and self.rfid_enabled
            and self.default_id_tag_mode == "authorisation_required"
            and not self.local_cards
        ):
            yield Violation(
                ("local_cards",),
                "offline authorisation with RFID needs at least one local card",
            )
