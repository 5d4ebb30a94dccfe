"""The simulation's control API: what each request does, and clear refusals (400 for a bad
body, 409 for a command that makes no sense now)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient, TestServer

from runtime.config.loader import load_profile
from runtime.sim.control import create_app
from runtime.sim.rig import SimRig

SIMULATED = Path(__file__).resolve().parents[3] / "profiles" / "simulated.yaml"
T = TypeVar("T")


def with_client(scenario: Callable[[TestClient[Any, Any], SimRig], Awaitable[T]]) -> T:
    async def main() -> T:
        rig = SimRig.from_profile(load_profile(SIMULATED).profile)
        app = create_app(rig, Path("/nonexistent/evse.sock"))
        async with TestClient(TestServer(app)) as client:
            return await scenario(client, rig)

    return asyncio.run(main())


def test_a_card_is_in_the_field_for_its_hold_time_then_leaves() -> None:
    async def scenario(client: TestClient[Any, Any], rig: SimRig) -> list[str | None]:
        seen = [rig.chips.rfid.card_uid]
        response = await client.post("/card", json={"uid": "04a2b3c4d5e6f7", "hold_s": 0.1})
        assert response.status == 200
        seen.append(rig.chips.rfid.card_uid)
        for _ in range(100):
            if rig.chips.rfid.card_uid is None:
                break
            await asyncio.sleep(0.02)
        seen.append(rig.chips.rfid.card_uid)
        return seen

    assert with_client(scenario) == [None, "04A2B3C4D5E6F7", None]


def test_a_new_card_replaces_the_one_held() -> None:
    async def scenario(client: TestClient[Any, Any], rig: SimRig) -> str | None:
        await client.post("/card", json={"uid": "FB433810", "hold_s": 0.05})
        await client.post("/card", json={"uid": "01020304", "hold_s": 60})
        await asyncio.sleep(0.15)  # the first card's removal must not take the second away
        return rig.chips.rfid.card_uid

    assert with_client(scenario) == "01020304"


def test_bad_bodies_get_400_naming_the_field() -> None:
    async def scenario(client: TestClient[Any, Any], rig: SimRig) -> list[tuple[int, str]]:
        answers = []
        for path, body in (
            ("/card", {"uid": "FB43"}),
            ("/fault", {"kind": "lightning"}),
            ("/fault", None),
            ("/plug", {"phases": 2}),
            ("/plug", {"colour": "red"}),
            ("/site-load", {"currents_a": [1, 2]}),
            ("/temperature", {"celsius": "hot"}),
        ):
            response = await client.post(path, json=body)
            answers.append((response.status, (await response.json())["error"]))
        return answers

    answers = with_client(scenario)
    assert {status for status, _ in answers} == {400}
    assert answers[0][1] == "/card: uid: UID FB43 has 2 bytes; ISO 14443A UIDs have 4, 7 or 10"
    assert answers[1][1].startswith("/fault: kind: Input should be 'rcm', 'cp'")
    assert answers[2][1] == "/fault: kind: Field required"
    assert answers[4][1] == "/plug: colour: Extra inputs are not permitted"


def test_a_second_plug_is_a_conflict() -> None:
    async def scenario(client: TestClient[Any, Any], rig: SimRig) -> tuple[int, Any]:
        await client.post("/plug")
        response = await client.post("/plug")
        return response.status, await response.json()

    assert with_client(scenario) == (409, {"error": "a car is already plugged in; unplug it first"})


def test_status_says_the_evse_is_not_running_when_its_socket_is_absent() -> None:
    async def scenario(client: TestClient[Any, Any], rig: SimRig) -> Any:
        await client.post("/fault", json={"kind": "temp"})
        return await (await client.get("/status")).json()

    status = with_client(scenario)
    assert status["evse"] is None
    assert status["evse_error"] == "not running"
    assert status["injected"] == ["temp"]
    assert status["board"]["temperature_c"] == 90.0
