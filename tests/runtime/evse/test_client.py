"""The evse client when the service is not there, and what it agrees on with the controller."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from runtime.evse.api_models import CommandStatus
from runtime.evse.client import EvseClient, EvseUnavailable
from runtime.evse.commands import Answer
from tests.runtime.evse.api_harness import run, running_evse


def test_a_missing_service_is_reported_with_its_socket_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "evse.sock"
        async with EvseClient(path) as client:
            with pytest.raises(EvseUnavailable, match=str(path)) as missing:
                await client.status()
            assert missing.value.socket_path == path
            with pytest.raises(EvseUnavailable, match="is it running"):
                await client.remote_start("FB433810")
            with pytest.raises(EvseUnavailable, match=str(path)):
                async with client.event_stream():
                    pass

    run(scenario())


def test_a_socket_nobody_listens_on_is_reported_as_unavailable(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "evse.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(str(path))  # bound, never listening: what a crashed service leaves
            async with EvseClient(path) as client:
                with pytest.raises(EvseUnavailable, match=str(path)):
                    await client.status()

    run(scenario())


def test_the_client_works_again_once_the_service_is_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with EvseClient(tmp_path / "evse.sock") as client:
            with pytest.raises(EvseUnavailable):
                await client.status()
            async with running_evse(tmp_path):
                assert (await client.status()).evse_id == 1

    run(scenario())


def test_the_client_checks_its_arguments_before_sending() -> None:
    async def scenario() -> None:
        async with EvseClient("/nonexistent/evse.sock") as client:
            with pytest.raises(ValidationError, match="current_a"):
                await client.set_current_limit(120)
            with pytest.raises(ValidationError, match="duration_s"):
                await client.set_current_limit(10, duration_s=-1)
            with pytest.raises(ValidationError, match="limit"):
                await client.transactions(limit=0)

    run(scenario())


def test_the_client_knows_every_answer_the_controller_gives() -> None:
    assert set(get_args(CommandStatus)) == set(get_args(Answer))
