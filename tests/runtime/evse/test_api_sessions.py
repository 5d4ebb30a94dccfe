"""A charging session driven through the local API, against the real drivers and simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.evse.api_models import EvseEvent
from runtime.evse.client import EvseClient
from tests.runtime.evse.api_harness import POLLS, RunningEvse, run, running_evse, until


async def plugged_and_charging(evse: RunningEvse, id_tag: str = "FB433810") -> int:
    """Plug the car, start remotely, wait for charging; the TX ID."""
    await evse.status_until(lambda s: s.state == "available", "available")
    evse.station.car.plug_in()
    await evse.status_until(lambda s: s.state == "connected", "the car to be seen")
    assert await evse.client.remote_start(id_tag) == "Accepted"
    status = await evse.status_until(lambda s: s.state == "charging", "charging")
    assert status.transaction is not None
    return status.transaction.transaction_id


def test_an_idle_charger_reports_available_with_a_green_light(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            status = await evse.status_until(lambda s: s.state == "available", "available")
            assert status.led == "green"
            assert status.ocpp_status == "Available"
            assert status.cp_state == "A"
            assert status.contactor_closed is False
            assert status.transaction is None
            assert status.faults == ()
            assert status.limits.effective_a == 32

    run(scenario())


def test_plug_then_remote_start_charges_and_remote_stop_ends_the_transaction(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            transaction_id = await plugged_and_charging(evse)
            status = await evse.status_until(lambda s: s.contactor_closed, "contactor closed")
            assert status.led == "blue"
            assert status.ocpp_status == "Charging"
            assert status.cp_state == "C"
            assert status.offered_current_a == pytest.approx(32, abs=0.1)
            assert status.transaction is not None
            assert status.transaction.id_tag == "FB433810"

            assert await evse.client.remote_stop(transaction_id) == "Accepted"
            status = await evse.status_until(
                lambda s: s.transaction is None, "the transaction to end"
            )
            assert status.state == "finishing"
            assert status.contactor_closed is False
            row = await evse.client.transaction(transaction_id)
            assert row.status == "ended"
            assert row.stop_reason == "Remote"
            assert row.id_tag == "FB433810"
            assert row.energy_used_kwh is not None and row.energy_used_kwh >= 0

            evse.station.car.unplug()
            await evse.status_until(lambda s: s.state == "available", "available again")

    run(scenario())


def test_remote_commands_answer_as_ocpp_expects(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await evse.status_until(lambda s: s.state == "available", "available")
            client = evse.client
            assert await client.remote_stop(12345) == "Rejected"  # nothing to stop
            assert await client.unlock() == "NotSupported"  # fixed Type 2 cable
            assert await client.clear_faults() == "Rejected"  # nothing to clear
            assert await client.change_availability(False) == "Accepted"
            await evse.status_until(lambda s: s.state == "unavailable", "unavailable")
            assert await client.remote_start("FB433810") == "Rejected"
            assert await client.change_availability(True) == "Accepted"
            await evse.status_until(lambda s: s.state == "available", "available")
            assert await client.set_updating(True) == "Accepted"
            assert (await client.status()).updating is True
            assert await client.set_updating(False) == "Accepted"
            assert (await client.status()).updating is False
            assert await client.set_updating(True, duration_s=10) == "Accepted"
            evse.clock.advance(11)  # not renewed: the indication ran out
            assert (await client.status()).updating is False

    run(scenario())


def test_going_inoperative_during_a_session_is_scheduled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            transaction_id = await plugged_and_charging(evse)
            assert await evse.client.change_availability(False) == "Scheduled"
            assert (await evse.client.status()).state == "charging"
            assert await evse.client.remote_stop(transaction_id) == "Accepted"
            evse.station.car.unplug()
            await evse.status_until(lambda s: s.state == "unavailable", "unavailable")

    run(scenario())


def test_the_event_stream_tells_state_changes_and_transactions(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await evse.status_until(lambda s: s.state == "available", "available")
            async with evse.client.event_stream(role="webui") as stream:
                transaction_id = await plugged_and_charging(evse)
                assert await evse.client.remote_stop(transaction_id) == "Accepted"
                seen: list[EvseEvent] = []
                for _ in range(POLLS):
                    event = await stream.receive(timeout_s=5)
                    seen.append(event)
                    if event.type == "transaction" and event.data["what"] == "ended":
                        break
            states = [(e.data["from"], e.data["to"]) for e in seen if e.type == "state"]
            assert ("available", "connected") in states
            assert ("suspended_ev", "charging") in states or ("connected", "charging") in states
            assert ("charging", "finishing") in states
            transactions = [e.data for e in seen if e.type == "transaction"]
            assert [t["what"] for t in transactions] == ["started", "ended"]
            assert {t["transaction_id"] for t in transactions} == {transaction_id}
            assert transactions[1]["reason"] == "Remote"
            sequence = [e.seq for e in seen]
            assert sequence == sorted(sequence) and sequence[0] >= 1

    run(scenario())


def test_the_event_stream_ends_when_the_service_stops(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            EvseClient(evse.socket_path) as client,
            client.event_stream() as stream,
        ):
            await evse.stop_api()
            assert [event async for event in stream] == []

    run(scenario())


def test_a_tilt_fault_shows_in_the_status_until_an_installer_clears_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await evse.status_until(lambda s: s.state == "available", "available")
            evse.chips.accelerometer.tilt(45)
            status = await evse.status_until(lambda s: s.state == "faulted", "the tilt fault")
            assert status.led == "red"
            assert [fault.kind for fault in status.faults] == ["tilt"]
            assert status.faults[0].latch == "cleared"
            assert status.last_error_code == "OtherError"
            evse.chips.accelerometer.tilt(0)  # inspected and straightened
            assert await evse.client.clear_faults("installer") == "Accepted"
            status = await evse.status_until(lambda s: s.state == "available", "available")
            assert status.faults == ()

    run(scenario())


def test_a_soft_reset_ends_the_session_and_stops_the_service(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            transaction_id = await plugged_and_charging(evse)
            assert await evse.client.reset("soft") == "Accepted"
            await until(evse.service.done, "the service to stop")
            ended = evse.context.transactions.get(transaction_id)
            assert ended is not None and ended.stop_reason == "SoftReset"
            assert evse.station.board.contactor_closed is False

    run(scenario())
