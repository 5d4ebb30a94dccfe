"""The CSMS bridge alone: Authorize requests out as events, answers back, offline at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.events import Event, EventHub
from runtime.persistence.auth_cache import AuthorizationStatus
from tests.runtime.evse.api_harness import run

OCPP_CLIENT = object()


def online_bridge(hub: EventHub) -> CsmsBridge:
    bridge = CsmsBridge(hub)
    bridge.attach(OCPP_CLIENT)
    bridge.set_online(True)
    return bridge


async def next_of(queue: asyncio.Queue[Event], kind: str) -> Event:
    for _ in range(10):
        event = await asyncio.wait_for(queue.get(), 1)
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event")


def test_the_bridge_is_connected_only_with_an_ocpp_client_and_an_online_backoffice() -> None:
    bridge = CsmsBridge(EventHub())
    assert bridge.available() is None
    bridge.set_online(True)
    assert bridge.available() is None  # nobody listens for the requests
    bridge.attach(OCPP_CLIENT)
    assert bridge.available() is bridge
    bridge.set_online(False)
    assert bridge.available() is None


def test_an_authorize_request_is_published_and_the_answer_returned() -> None:
    async def scenario() -> None:
        hub = EventHub()
        bridge = online_bridge(hub)
        expiry = datetime(2030, 1, 1, tzinfo=UTC)
        async with hub.subscribe() as queue:
            asking = asyncio.create_task(bridge.authorize("0A1B2C3D"))
            request = await next_of(queue, "authorize_request")
            assert request["data"]["id_tag"] == "0A1B2C3D"
            assert bridge.resolve(
                request["data"]["request_id"], AuthorizationStatus.BLOCKED, expiry
            )
            assert await asking == (AuthorizationStatus.BLOCKED, expiry)
        assert bridge.pending_count == 0

    run(scenario())


def test_an_answer_nobody_waits_for_is_refused() -> None:
    bridge = online_bridge(EventHub())
    assert not bridge.resolve("no-such-request", AuthorizationStatus.ACCEPTED, None)


def test_asking_an_offline_backoffice_fails_at_once() -> None:
    async def scenario() -> None:
        bridge = CsmsBridge(EventHub())
        with pytest.raises(ConnectionError, match="no OCPP client"):
            await bridge.authorize("0A1B2C3D")

    run(scenario())


@pytest.mark.parametrize("how", ["stream closed", "backoffice offline"])
def test_waiting_requests_fail_when_the_backoffice_goes_away(how: str) -> None:
    async def scenario() -> None:
        hub = EventHub()
        bridge = online_bridge(hub)
        async with hub.subscribe() as queue:
            asking = asyncio.create_task(bridge.authorize("0A1B2C3D"))
            await next_of(queue, "authorize_request")
            if how == "stream closed":
                bridge.detach(OCPP_CLIENT)
            else:
                bridge.set_online(False)
            with pytest.raises(ConnectionError):
                await asking
            state = await next_of(queue, "csms_state")
            assert state["data"] == {"connected": False}
        assert bridge.pending_count == 0
        assert bridge.available() is None

    run(scenario())


def test_a_new_ocpp_client_must_declare_the_backoffice_online_again() -> None:
    bridge = online_bridge(EventHub())
    bridge.detach(OCPP_CLIENT)
    bridge.attach(OCPP_CLIENT)
    assert not bridge.connected
    bridge.set_online(True)
    assert bridge.connected


def test_one_of_two_ocpp_streams_closing_keeps_the_bridge_connected() -> None:
    bridge = online_bridge(EventHub())
    other = object()
    bridge.attach(other)
    bridge.detach(OCPP_CLIENT)
    assert bridge.connected
    bridge.detach(other)
    assert not bridge.connected


def test_a_request_cancelled_by_the_authorizers_timeout_is_forgotten() -> None:
    async def scenario() -> None:
        bridge = online_bridge(EventHub())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bridge.authorize("0A1B2C3D"), 0.01)
        assert bridge.pending_count == 0

    run(scenario())
