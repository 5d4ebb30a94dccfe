"""SocketI2cBus behaves like a real bus: NACKs and lost doubles are OSErrors, drivers get
DeviceErrors naming device and address, and a restarted double is reconnected to."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from smbus2 import i2c_msg

from runtime.drivers.i2c import I2cBus, I2cDevice, SocketI2cBus, message_bytes, open_i2c_bus
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.sim.smbus_double import SmbusDoubleServer
from tests.runtime.drivers.i2c_harness import charger_board, run_on_socket


def test_register_calls_reach_the_chip_registers(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> tuple[int, list[int]]:
        def calls() -> tuple[int, list[int]]:
            bus.write_byte_data(0x30, 0x02, 0x12)
            bus.write_i2c_block_data(0x30, 0x80 | 0x03, [0x34, 0x56])
            return bus.read_byte_data(0x18, 0x0F), bus.read_i2c_block_data(0x30, 0x82, 3)

        return await asyncio.to_thread(calls)

    assert run_on_socket(tmp_path, board, scenario) == (0x33, [0x12, 0x34, 0x56])


def test_a_combined_transaction_fills_the_read_messages(tmp_path: Path) -> None:
    board = charger_board()

    async def scenario(bus: I2cBus) -> bytes:
        def calls() -> bytes:
            read = i2c_msg.read(0x18, 1)
            bus.i2c_rdwr(i2c_msg.write(0x18, [0x0F]), read)
            return message_bytes(read)

        return await asyncio.to_thread(calls)

    assert run_on_socket(tmp_path, board, scenario) == b"\x33"


def test_an_address_nobody_answers_is_a_remote_io_error(tmp_path: Path) -> None:
    async def scenario(bus: I2cBus) -> None:
        await asyncio.to_thread(bus.read_byte_data, 0x50, 0x00)

    with pytest.raises(OSError) as raised:
        run_on_socket(tmp_path, charger_board(), scenario)
    assert raised.value.errno == errno.EREMOTEIO


def test_a_chip_on_another_bus_does_not_answer_on_this_one(tmp_path: Path) -> None:
    board = charger_board(bus=2)

    async def scenario(bus: I2cBus) -> None:
        bus_1 = SocketI2cBus(tmp_path / "i2c.sock", 1)
        try:
            await asyncio.to_thread(bus_1.read_byte_data, 0x18, 0x0F)
        finally:
            bus_1.close()

    with pytest.raises(OSError, match="no ACK from 0x18 on i2c-1"):
        run_on_socket(tmp_path, board, scenario)


def test_no_double_listening_is_an_oserror(tmp_path: Path) -> None:
    bus = SocketI2cBus(tmp_path / "nobody.sock", 1, timeout_s=0.2)
    with pytest.raises(OSError):
        bus.read_byte_data(0x18, 0x0F)


def test_driver_errors_name_the_device_and_address_when_the_double_is_gone(
    tmp_path: Path,
) -> None:
    chip = I2cDevice(SocketI2cBus(tmp_path / "nobody.sock", 3), 3, 0x24, "PN532 RFID reader")
    with pytest.raises(DeviceTimeout, match=r"^PN532 RFID reader at i2c-3 0x24: no answer"):
        asyncio.run(chip.write(b"\x00"))


def test_the_bus_reconnects_to_a_restarted_double(tmp_path: Path) -> None:
    board = charger_board()
    path = tmp_path / "i2c.sock"

    async def scenario() -> list[int]:
        bus = SocketI2cBus(path, 1)
        values = []
        for _ in range(2):
            async with SmbusDoubleServer(board.double, path):
                values.append(await asyncio.to_thread(bus.read_byte_data, 0x18, 0x0F))
        bus.close()
        return values

    assert asyncio.run(scenario()) == [0x33, 0x33]


@pytest.fixture
def fake_double(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A socket answering each request with the next canned reply (b"" hangs up, none: silence)."""
    path = tmp_path / "fake.sock"
    replies: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(5)

    def serve() -> None:
        with listener, contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                while connection.recv(65536):
                    if not replies:
                        continue  # no canned reply: stay silent
                    reply = replies.pop(0)
                    if not reply:
                        return
                    connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"not json\n", "malformed reply"),
        (b'{"ok": true, "reads": ["zz"]}\n', "malformed reply"),
        (b'{"ok": true}\n', "malformed reply"),
        (b'{"ok": true, "reads": ["3333"]}\n', "short read"),
        (b'{"ok": true, "reads": []}\n', "short read"),
        (b'{"ok": false, "errno": 110, "error": "timed out"}\n', "timed out"),
        (b"", "hung up"),
    ],
)
def test_a_broken_reply_from_the_double_is_an_oserror(
    fake_double: tuple[Path, list[bytes]], reply: bytes, problem: str
) -> None:
    path, replies = fake_double
    replies.append(reply)
    bus = SocketI2cBus(path, 1, timeout_s=2.0)
    try:
        with pytest.raises(OSError, match=problem):
            bus.read_byte_data(0x18, 0x0F)
    finally:
        bus.close()


def test_a_double_that_never_replies_times_out(fake_double: tuple[Path, list[bytes]]) -> None:
    path, _ = fake_double
    bus = SocketI2cBus(path, 1, timeout_s=0.1)
    with pytest.raises(TimeoutError):
        bus.read_byte_data(0x18, 0x0F)
    bus.close()


def test_open_i2c_bus_opens_the_kernel_device(tmp_path: Path) -> None:
    with pytest.raises(OSError):  # no /dev/i2c-31 on a development machine or in CI
        open_i2c_bus(31)


def test_a_bus_that_returns_too_few_bytes_is_device_garbage() -> None:
    class ShortBus(SocketI2cBus):
        def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
            return [0] * (length - 1)

    chip = I2cDevice(ShortBus("unused", 1), 1, 0x18, "LIS3DH accelerometer")
    with pytest.raises(DeviceGarbage, match="asked for 6 bytes from 0xa8"):
        asyncio.run(chip.read_registers(0xA8, 6))
