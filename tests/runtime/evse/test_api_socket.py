"""The local API's Unix socket: group-only rights, a stale socket replaced, a live one kept."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from aiohttp import web

from runtime.evse.api import serve_unix
from tests.runtime.evse.api_harness import run


def test_the_socket_is_for_the_owner_and_group_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "run" / "evse.sock"
        runner = await serve_unix(web.Application(), path)
        try:
            mode = path.stat().st_mode
            assert stat.S_ISSOCK(mode)
            assert stat.S_IMODE(mode) == 0o660
        finally:
            await runner.cleanup()
        assert not path.exists()  # removed when the service stops

    run(scenario())


def test_a_stale_socket_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "evse.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(str(path))
        runner = await serve_unix(web.Application(), path)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(path))  # the new service listens there
        finally:
            await runner.cleanup()

    run(scenario())


def test_a_socket_another_service_listens_on_is_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "evse.sock"
        first = await serve_unix(web.Application(), path)
        try:
            with pytest.raises(FileExistsError, match="another evse service"):
                await serve_unix(web.Application(), path)
            assert stat.S_ISSOCK(path.stat().st_mode)
        finally:
            await first.cleanup()

    run(scenario())


def test_a_regular_file_in_the_way_is_not_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "evse.sock"
        path.write_text("not a socket")
        with pytest.raises(FileExistsError, match="not a socket"):
            await serve_unix(web.Application(), path)
        assert path.read_text() == "not a socket"

    run(scenario())
