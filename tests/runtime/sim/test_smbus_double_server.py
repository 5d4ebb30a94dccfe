"""The SMBus double's socket server: serves several clients, refuses bad requests without
dropping the client, and leaves no socket file behind."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from pathlib import Path

import pytest

from runtime.drivers.i2c import I2cRead, I2cWrite, SocketI2cBus, encode_request
from runtime.sim.smbus_double import ChargerI2c, I2cDouble, Pn532Chip, SmbusDoubleServer
from schemas.hardware import I2cDevices


def board() -> ChargerI2c:
    return ChargerI2c.from_config(I2cDevices())


def exchange(path: Path, lines: list[bytes]) -> list[dict[str, object]]:
    """Send raw request lines on one connection; the decoded replies."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        client.connect(str(path))
        replies = []
        stream = client.makefile("rb")
        for line in lines:
            client.sendall(line)
            replies.append(json.loads(stream.readline()))
        return replies


def serve(path: Path, double: I2cDouble, lines: list[bytes]) -> list[dict[str, object]]:
    async def main() -> list[dict[str, object]]:
        async with SmbusDoubleServer(double, path):
            return await asyncio.to_thread(exchange, path, lines)

    return asyncio.run(main())


def test_a_bad_request_gets_an_einval_reply_and_the_connection_stays_usable(
    tmp_path: Path,
) -> None:
    good = encode_request(1, [I2cWrite(0x18, b"\x0f"), I2cRead(0x18, 1)])
    bad = [
        b"not json\n",
        b'{"bus": 1}\n',
        b'{"bus": 1, "msgs": []}\n',
        b'{"bus": 1, "msgs": [{"addr": 200, "read": 1}]}\n',
        b'{"bus": 1, "msgs": [{"addr": 24, "read": 0}]}\n',
        b'{"bus": 1, "msgs": [{"addr": 24, "write": "xyz"}]}\n',
        b'{"bus": "1", "msgs": [{"addr": 24, "read": 1}]}\n',
    ]
    replies = serve(tmp_path / "i2c.sock", board().double, [*bad, good])
    assert all(r["ok"] is False and r["errno"] == errno.EINVAL for r in replies[:-1])
    assert replies[-1] == {"ok": True, "reads": ["33"]}


def test_an_absent_chip_is_a_nack_reply(tmp_path: Path) -> None:
    double = board().double
    double.detach(1, 0x24)
    (reply,) = serve(tmp_path / "i2c.sock", double, [encode_request(1, [I2cRead(0x24, 1)])])
    assert reply["ok"] is False and reply["errno"] == errno.EREMOTEIO


def test_several_clients_share_the_double(tmp_path: Path) -> None:
    charger = board()
    path = tmp_path / "i2c.sock"

    async def main() -> list[int]:
        async with SmbusDoubleServer(charger.double, path):
            buses = [SocketI2cBus(path, 1) for _ in range(3)]
            values = await asyncio.gather(
                *(asyncio.to_thread(bus.read_byte_data, 0x18, 0x0F) for bus in buses)
            )
            for bus in buses:
                bus.close()
            return list(values)

    assert asyncio.run(main()) == [0x33, 0x33, 0x33]


def test_close_removes_the_socket_and_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "i2c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # left behind by a crashed simulator
    stale.close()
    (reply,) = serve(path, board().double, [encode_request(1, [I2cRead(0x30, 1)])])
    assert reply["ok"] is True
    assert not path.exists()


def test_close_drops_connected_clients(tmp_path: Path) -> None:
    path = tmp_path / "i2c.sock"

    async def main() -> None:
        bus = SocketI2cBus(path, 1)
        async with SmbusDoubleServer(board().double, path):
            await asyncio.to_thread(bus.read_byte_data, 0x18, 0x0F)
        with pytest.raises(OSError):
            await asyncio.to_thread(bus.read_byte_data, 0x18, 0x0F)

    asyncio.run(main())


def test_one_address_holds_one_chip() -> None:
    double = board().double
    with pytest.raises(ValueError, match="i2c-1 0x24 already holds a chip"):
        double.attach(1, 0x24, Pn532Chip())
