"""Malformed requests are refused with a JSON error naming the field, and change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.runtime.evse.api_harness import run, running_evse

NAIVE = "2030-01-01T00:00"  # no time zone: ambiguous for a limit's expiry
# method, path, body (bytes are sent as they are), status, the field the answer must name
BAD_REQUESTS: tuple[tuple[str, str, Any, int, str], ...] = (
    ("POST", "/current-limit", {"current_a": 100}, 400, "current_a"),
    ("POST", "/current-limit", {"current_a": -1}, 400, "current_a"),
    ("POST", "/current-limit", {}, 400, "current_a"),
    ("POST", "/current-limit", {"current_a": "10"}, 400, "current_a"),
    ("POST", "/current-limit", {"current_a": 10, "duration_s": 0}, 400, "duration_s"),
    (
        "POST",
        "/current-limit",
        {"current_a": 10, "duration_s": 60, "expires_at": "2030-01-01T00:00:00Z"},
        400,
        "duration_s",
    ),
    ("POST", "/current-limit", {"current_a": 10, "expires_at": "tomorrow"}, 400, "expires_at"),
    ("POST", "/current-limit", {"current_a": 10, "expires_at": NAIVE}, 400, "expires_at"),
    ("POST", "/current-limit", {"current_a": None, "duration_s": 60}, 400, "duration_s"),
    ("POST", "/current-limit", b"{not json", 400, "(body)"),
    ("POST", "/current-limit", b"[]", 400, "(body)"),
    ("POST", "/remote-start", {}, 400, "id_tag"),
    ("POST", "/remote-start", {"id_tag": "has space"}, 400, "id_tag"),
    ("POST", "/remote-start", {"id_tag": "X" * 21}, 400, "id_tag"),
    ("POST", "/remote-start", {"id_tag": "FB433810", "connector": 1}, 400, "connector"),
    ("POST", "/remote-stop", {"transaction_id": "12"}, 400, "transaction_id"),
    ("POST", "/remote-stop", {"transaction_id": 0}, 400, "transaction_id"),
    ("POST", "/availability", {"operative": "yes"}, 400, "operative"),
    ("POST", "/reset", {"kind": "warm"}, 400, "kind"),
    ("POST", "/updating", {}, 400, "updating"),
    ("POST", "/updating", {"updating": True, "duration_s": 0}, 400, "duration_s"),
    ("POST", "/updating", {"updating": True, "duration_s": 3600}, 400, "duration_s"),
    ("POST", "/updating", {"updating": True, "duration_s": "10"}, 400, "duration_s"),
    ("POST", "/unlock", {"now": True}, 400, "now"),
    ("POST", "/csms/state", {"online": 1}, 400, "online"),
    ("POST", "/authorize/abc", {"status": "Maybe"}, 400, "status"),
    ("POST", "/authorize/abc", {"status": "Accepted", "expiry": "2030-01-01"}, 400, "expiry"),
    ("GET", "/transactions?limit=0", None, 400, "limit"),
    ("GET", "/transactions?limit=1001", None, 400, "limit"),
    ("GET", "/transactions?limit=many", None, 400, "limit"),
    ("GET", "/transactions?order=asc", None, 400, "order"),
    ("GET", "/events/log?limit=-5", None, 400, "limit"),
)

NOT_FOUND: tuple[tuple[str, str], ...] = (
    ("GET", "/transactions/424242"),
    ("GET", "/transactions/abc"),
    ("GET", "/nowhere"),
    ("POST", "/authorize/no-such-request"),
)


async def call(
    session: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, str, dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    async with session.request(method, f"http://evse{path}", **kwargs) as response:
        return response.status, response.content_type, await response.json()


def test_malformed_requests_are_refused_naming_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(evse.socket_path))) as http,
        ):
            for method, path, body, expected, field in BAD_REQUESTS:
                case = f"{method} {path} {body!r}"
                status, content_type, answer = await call(http, method, path, body)
                assert (status, content_type) == (expected, "application/json"), case
                assert field in [item["field"] for item in answer["fields"]], (case, answer)
                assert field in answer["error"], (case, answer)
            after = await evse.client.status()
            assert after.limits.external_a is None
            assert after.operative is True
            assert after.updating is False
            assert not evse.shutdown.is_set()  # no reset happened

    run(scenario())


def test_unknown_things_are_not_found_and_wrong_methods_not_allowed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(evse.socket_path))) as http,
        ):
            for method, path in NOT_FOUND:
                body = {"status": "Accepted"} if method == "POST" else None
                status, content_type, answer = await call(http, method, path, body)
                assert (status, content_type) == (404, "application/json"), path
                assert answer["error"], path
            status, content_type, answer = await call(http, "DELETE", "/status")
            assert (status, content_type) == (405, "application/json")
            assert "DELETE /status" in answer["error"]
            status, _, answer = await call(http, "GET", "/transactions/424242")
            assert "424242" in answer["error"]

    run(scenario())


def test_commands_without_parameters_take_an_empty_body_or_an_empty_object(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(evse.socket_path))) as http,
        ):
            assert await call(http, "POST", "/unlock") == (
                200,
                "application/json",
                {"status": "NotSupported"},
            )
            assert (await call(http, "POST", "/unlock", {}))[2] == {"status": "NotSupported"}

    run(scenario())


def test_a_malformed_event_stream_message_is_answered_with_an_error_naming_the_field(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(evse.socket_path))) as http,
            http.ws_connect("http://evse/events") as socket,
        ):
            await socket.send_json({"type": "hello", "role": "root"})
            reply = await socket.receive_json(timeout=5)
            assert (reply["seq"], reply["type"]) == (0, "error")
            assert "role" in reply["data"]["error"]
            await socket.send_bytes(b"\x00")
            assert (await socket.receive_json(timeout=5))["type"] == "error"
            await socket.send_json({"type": "hello", "role": "ocpp"})
            reply = await socket.receive_json(timeout=5)
            assert reply["type"] == "hello" and reply["data"]["role"] == "ocpp"
            assert not evse.bridge.connected  # the backoffice was not declared online

    run(scenario())


def test_the_event_stream_needs_a_websocket_upgrade(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_evse(tmp_path) as evse,
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(str(evse.socket_path))) as http,
        ):
            status, content_type, answer = await call(http, "GET", "/events")
            assert (status, content_type) == (400, "application/json")
            assert answer["error"]

    run(scenario())
