"""The SMBus double: simulated I2C chips at their bus and address, served to the real drivers.

`SmbusDoubleServer` answers `runtime.drivers.i2c.SocketI2cBus` over a Unix socket (the protocol
is documented there); `LocalI2cBus` reaches the same chips in-process for fast unit tests.
`ChargerI2c` puts the communication board's three chips on one bus, as the profile wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from runtime.drivers.i2c import (
    I2cMessage,
    I2cRead,
    TransferI2cBus,
    decode_request,
    encode_failure,
    encode_reply,
)
from runtime.sim.i2c_chip import SimChip
from runtime.sim.lis3dh_chip import Lis3dhChip
from runtime.sim.pca9634_chip import Pca9634Chip
from runtime.sim.pn532_chip import Pn532Chip
from schemas.hardware import I2cDevices

__all__ = [
    "ChargerI2c",
    "I2cDouble",
    "Lis3dhChip",
    "LocalI2cBus",
    "Pca9634Chip",
    "Pn532Chip",
    "SimChip",
    "SmbusDoubleServer",
]

log = logging.getLogger(__name__)

REQUEST_LINE_LIMIT = 1 << 20  # 42 messages of 8192 bytes, hex-encoded, fit


class I2cDouble:
    """The simulated I2C buses: chips by bus number and 7-bit address."""

    def __init__(self) -> None:
        self._chips: dict[tuple[int, int], SimChip] = {}
        self._lock = threading.Lock()  # drivers reach LocalI2cBus from worker threads

    def attach(self, bus_number: int, address: int, chip: SimChip) -> None:
        """Put a chip on a bus; an address holds one chip."""
        with self._lock:
            if (bus_number, address) in self._chips:
                raise ValueError(f"i2c-{bus_number} 0x{address:02x} already holds a chip")
            self._chips[(bus_number, address)] = chip

    def detach(self, bus_number: int, address: int) -> SimChip:
        """Take a chip off its bus (its address stops answering)."""
        with self._lock:
            return self._chips.pop((bus_number, address))

    def transfer(self, bus_number: int, messages: Sequence[I2cMessage]) -> list[bytes]:
        """Run a combined transaction; OSError(EREMOTEIO) when an address is not acknowledged."""
        reads: list[bytes] = []
        with self._lock:
            for message in messages:
                chip = self._chips.get((bus_number, message.address))
                if chip is None or not chip.answering:
                    raise OSError(
                        errno.EREMOTEIO, f"no ACK from 0x{message.address:02x} on i2c-{bus_number}"
                    )
                if isinstance(message, I2cRead):
                    data = chip.read(message.length)
                    if len(data) != message.length:
                        raise AssertionError(f"{chip.name} read {len(data)} of {message.length}")
                    reads.append(data)
                else:
                    chip.write(message.data)
        return reads

    def bus(self, bus_number: int) -> LocalI2cBus:
        """An in-process I2cBus on one of these buses."""
        return LocalI2cBus(self, bus_number)


class LocalI2cBus(TransferI2cBus):
    """An I2cBus that calls the chip models directly (no socket): for fast unit tests."""

    def __init__(self, double: I2cDouble, bus_number: int) -> None:
        self.double = double
        self.bus_number = bus_number

    def transfer(self, messages: Sequence[I2cMessage]) -> list[bytes]:
        """The transaction on the double's bus."""
        return self.double.transfer(self.bus_number, messages)

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class ChargerI2c:
    """The communication board's I2C chips: RFID reader, LED driver (+ buzzer), accelerometer."""

    double: I2cDouble
    bus_number: int
    rfid: Pn532Chip
    led: Pca9634Chip
    accelerometer: Lis3dhChip

    @classmethod
    def from_config(cls, devices: I2cDevices) -> ChargerI2c:
        """The chips at the bus and addresses of a profile's `hardware.i2c`."""
        double = I2cDouble()
        board = cls(
            double, devices.bus, Pn532Chip(), Pca9634Chip(devices.buzzer_channel), Lis3dhChip()
        )
        double.attach(devices.bus, devices.rfid_reader, board.rfid)
        double.attach(devices.bus, devices.led_driver, board.led)
        double.attach(devices.bus, devices.accelerometer, board.accelerometer)
        return board

    def local_bus(self) -> LocalI2cBus:
        """An in-process bus to these chips."""
        return self.double.bus(self.bus_number)


class SmbusDoubleServer:
    """Serves an I2cDouble to SocketI2cBus clients on a Unix socket (JSON lines)."""

    def __init__(self, double: I2cDouble, path: str | Path) -> None:
        self.double = double
        self.path = Path(path)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Listen on the socket path (a stale socket left by a crashed run is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=REQUEST_LINE_LIMIT
        )

    async def close(self) -> None:
        """Stop listening, drop the clients and remove the socket file."""
        if self._server is not None:
            self._server.close()
            handlers = list(self._connections.values())
            for writer in self._connections:
                writer.close()  # the handler reads EOF and ends
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> SmbusDoubleServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while line := await reader.readline():
                writer.write(self._answer(line))
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as err:
            log.warning("SMBus double client on %s dropped: %s", self.path, err)
        finally:
            del self._connections[writer]
            writer.close()

    def _answer(self, line: bytes) -> bytes:
        try:
            bus_number, messages = decode_request(line)
            return encode_reply(self.double.transfer(bus_number, messages))
        except ValueError as err:
            return encode_failure(OSError(errno.EINVAL, str(err)))
        except OSError as err:
            return encode_failure(err)
