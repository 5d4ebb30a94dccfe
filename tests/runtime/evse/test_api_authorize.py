"""Cards the local list does not know go to the backoffice through the OCPP client's bridge.

The OCPP client here is a second EvseClient doing what the OCPP service does: say hello as
"ocpp" on the event stream, declare the backoffice online, answer `authorize_request` events.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.evse.api_models import EvseEvent
from runtime.evse.client import EventStream, EvseApiError, EvseClient
from runtime.persistence.auth_cache import AuthorizationStatus
from schemas import Profile
from tests.runtime.evse.api_harness import (
    RunningEvse,
    run,
    running_evse,
    simulated_profile,
    until,
)

UNKNOWN_CARD = "0A1B2C3D"  # not on the profile's local list
EVENT_WAIT_S = 5.0  # far below the 60 s the backoffice gets: an answer within it was not a timeout


def backoffice_profile() -> Profile:
    return simulated_profile(offline_authorisation="csms", csms_timeout_s=60)


async def next_event(stream: EventStream, kind: str, **data: object) -> EvseEvent:
    """The next event of `kind` whose data holds `data`, within EVENT_WAIT_S."""
    async with asyncio.timeout(EVENT_WAIT_S):
        while True:
            event = await stream.receive()
            if event.type == kind and all(event.data.get(k) == v for k, v in data.items()):
                return event


async def answer_one_request(stream: EventStream, client: EvseClient, status: str) -> str:
    """Answer the next authorize_request as the backoffice would; the id tag asked about."""
    request = await next_event(stream, "authorize_request")
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    await client.answer_authorize(request.data["request_id"], AuthorizationStatus(status), expiry)
    return str(request.data["id_tag"])


async def take_card_away(evse: RunningEvse) -> None:
    """Remove the card and wait until the reader was polled without it."""
    evse.chips.rfid.remove_card()
    polls = evse.chips.rfid.commands.count(0x4A)  # InListPassiveTarget
    await until(lambda: evse.chips.rfid.commands.count(0x4A) >= polls + 2, "an empty field")


def test_a_card_unknown_locally_is_accepted_by_the_backoffice_and_charges(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path, backoffice_profile()) as evse,
            EvseClient(evse.socket_path) as ocpp,
            ocpp.event_stream(role="ocpp") as stream,
        ):
            assert await ocpp.set_csms_online(True) is True
            evse.station.car.plug_in()
            await evse.status_until(lambda s: s.state == "connected", "the car to be seen")
            evse.chips.rfid.present_card(UNKNOWN_CARD)
            assert await answer_one_request(stream, ocpp, "Accepted") == UNKNOWN_CARD
            decision = await next_event(stream, "authorization", uid=UNKNOWN_CARD)
            assert decision.data["accepted"] is True and decision.data["source"] == "csms"
            status = await evse.status_until(lambda s: s.state == "charging", "charging")
            assert status.transaction is not None
            assert status.transaction.id_tag == UNKNOWN_CARD

    run(scenario())


def test_a_card_the_backoffice_blocks_does_not_charge(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path, backoffice_profile()) as evse,
            EvseClient(evse.socket_path) as ocpp,
            ocpp.event_stream(role="ocpp") as stream,
        ):
            await ocpp.set_csms_online(True)
            evse.chips.rfid.present_card(UNKNOWN_CARD)
            await answer_one_request(stream, ocpp, "Blocked")
            decision = await next_event(stream, "authorization", uid=UNKNOWN_CARD)
            assert decision.data["accepted"] is False and decision.data["source"] == "csms"
            assert (await evse.client.status()).state == "available"

    run(scenario())


def test_closing_the_ocpp_event_stream_takes_the_backoffice_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path, backoffice_profile()) as evse,
            evse.client.event_stream(role="webui") as monitor,
            EvseClient(evse.socket_path) as ocpp,
        ):
            async with ocpp.event_stream(role="ocpp"):
                assert not evse.bridge.connected  # not declared online yet
                assert await ocpp.set_csms_online(True) is True
                assert evse.bridge.available() is evse.bridge
                await next_event(monitor, "csms_state", connected=True)
            await next_event(monitor, "csms_state", connected=False)
            assert evse.bridge.available() is None
            # a new stream alone is not enough: the backoffice must be declared again
            async with ocpp.event_stream(role="ocpp"):
                assert not evse.bridge.connected

    run(scenario())


def test_a_card_waiting_for_the_backoffice_is_decided_offline_once_the_stream_closes(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path, backoffice_profile()) as evse,
            evse.client.event_stream(role="webui") as monitor,
        ):
            async with (
                EvseClient(evse.socket_path) as ocpp,
                ocpp.event_stream(role="ocpp") as stream,
            ):
                await ocpp.set_csms_online(True)
                evse.chips.rfid.present_card(UNKNOWN_CARD)
                await next_event(stream, "authorize_request", id_tag=UNKNOWN_CARD)
                assert evse.bridge.pending_count == 1
            # the Authorizer would wait 60 s for a backoffice answer; it decides now
            decision = await next_event(monitor, "authorization", uid=UNKNOWN_CARD)
            assert decision.data["accepted"] is False
            assert decision.data["source"] == "offline_rule"
            assert evse.bridge.pending_count == 0

    run(scenario())


def test_a_card_the_backoffice_accepted_works_from_the_cache_when_offline(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path, backoffice_profile()) as evse,
            evse.client.event_stream(role="webui") as monitor,
        ):
            async with (
                EvseClient(evse.socket_path) as ocpp,
                ocpp.event_stream(role="ocpp") as stream,
            ):
                await ocpp.set_csms_online(True)
                evse.chips.rfid.present_card(UNKNOWN_CARD)
                await answer_one_request(stream, ocpp, "Accepted")
                await next_event(monitor, "authorization", uid=UNKNOWN_CARD, accepted=True)
            await evse.status_until(lambda s: s.state == "authorized", "authorized")
            await take_card_away(evse)
            evse.chips.rfid.present_card(
                UNKNOWN_CARD
            )  # the same card again cancels the authorization
            await evse.status_until(lambda s: s.state == "available", "available")
            await take_card_away(evse)
            evse.chips.rfid.present_card(UNKNOWN_CARD)
            decision = await next_event(monitor, "authorization", uid=UNKNOWN_CARD)
            assert decision.data["accepted"] is True and decision.data["source"] == "cache"

    run(scenario())


def test_an_answer_for_a_request_nobody_waits_for_is_not_found(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            with pytest.raises(EvseApiError, match="f00") as refused:
                await evse.client.answer_authorize("f00", AuthorizationStatus.ACCEPTED)
            assert refused.value.status == 404

    run(scenario())
