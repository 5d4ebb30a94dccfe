"""The I2C bus the RFID reader, LED driver and accelerometer drivers speak, real or simulated.

`I2cBus` is the slice of smbus2 the drivers use; `open_i2c_bus` gives the real /dev/i2c-N,
`SocketI2cBus` forwards the same calls to the SMBus double (`runtime.sim.smbus_double`).
`I2cDevice` is one chip on a bus: bus calls in a worker thread, failures as DeviceErrors.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from smbus2 import SMBus, i2c_msg
from smbus2.smbus2 import I2C_M_RD

from runtime.hardware.errors import DeviceGarbage, DeviceTimeout

T = TypeVar("T")

# Linux i2c-dev limits: I2C_RDRW_IOCTL_MAX_MSGS messages per transfer, 8192 bytes per message.
MAX_MESSAGES = 42
MAX_MESSAGE_LENGTH = 8192


class I2cBus(Protocol):
    """The smbus2 calls the drivers use. Each call is one bus transaction, safe across threads."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None: ...

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None: ...

    def close(self) -> None: ...


class _SerialisedSMBus(SMBus):
    """smbus2.SMBus whose calls are atomic across threads (it selects the address per call)."""

    def __init__(self, bus_number: int) -> None:
        self._lock = threading.Lock()
        super().__init__(bus_number)

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        with self._lock:
            return super().read_byte_data(i2c_addr, register, force)

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        with self._lock:
            super().write_byte_data(i2c_addr, register, value, force)

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        with self._lock:
            return super().read_i2c_block_data(i2c_addr, register, length, force)

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        with self._lock:
            super().write_i2c_block_data(i2c_addr, register, data, force)

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None:
        with self._lock:
            super().i2c_rdwr(*i2c_msgs)


def open_i2c_bus(bus_number: int) -> SMBus:
    """The real /dev/i2c-N (an smbus2.SMBus that serialises calls from several threads)."""
    return _SerialisedSMBus(bus_number)


# --- transfers: every SMBus call is a combined write/read transaction -------------------------


@dataclass(frozen=True)
class I2cWrite:
    """One write message of a combined transaction."""

    address: int
    data: bytes


@dataclass(frozen=True)
class I2cRead:
    """One read message of a combined transaction."""

    address: int
    length: int


I2cMessage = I2cWrite | I2cRead


def message_bytes(msg: i2c_msg) -> bytes:
    """The buffer of an smbus2 message (its stubs type `bytes(msg)` wrongly)."""
    return ctypes.string_at(msg.buf, msg.len)


class TransferI2cBus(ABC):
    """An I2cBus built on one primitive: a combined transaction of write and read messages."""

    @abstractmethod
    def transfer(self, messages: Sequence[I2cMessage]) -> list[bytes]:
        """Run the messages as one transaction; return what each read message read, in order.

        Raises OSError when a chip does not acknowledge, like the kernel's i2c-dev.
        """

    @abstractmethod
    def close(self) -> None:
        """Release what the bus holds (a connection); the next call may open it again."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        """Read one register."""
        (data,) = self.transfer([I2cWrite(i2c_addr, bytes([register])), I2cRead(i2c_addr, 1)])
        return data[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        """Write one register."""
        self.transfer([I2cWrite(i2c_addr, bytes([register, value]))])

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        """Read `length` bytes starting at a register."""
        (data,) = self.transfer([I2cWrite(i2c_addr, bytes([register])), I2cRead(i2c_addr, length)])
        return list(data)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        """Write bytes starting at a register."""
        self.transfer([I2cWrite(i2c_addr, bytes([register, *data]))])

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None:
        """Combined transaction of smbus2 messages; read messages get their buffers filled."""
        messages: list[I2cMessage] = [
            I2cRead(msg.addr, msg.len)
            if msg.flags & I2C_M_RD
            else I2cWrite(msg.addr, message_bytes(msg))
            for msg in i2c_msgs
        ]
        reads = iter(self.transfer(messages))
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                ctypes.memmove(msg.buf, next(reads), msg.len)


# --- the socket protocol ------------------------------------------------------------------------
#
# JSON lines over a Unix stream socket, one request and one reply per line, in order:
#   request  {"bus": 1, "msgs": [{"addr": 36, "write": "d40201"}, {"addr": 36, "read": 8}]}
#   reply    {"ok": true, "reads": ["0100ff..."]}                      one hex string per read
#   failure  {"ok": false, "errno": 121, "error": "no ACK from 0x24 on i2c-1"}
# Every SMBus call is sent as the combined transaction the kernel would put on the wire (a
# register read is write [register] + read N). A failure reply, a broken connection or no reply
# within the timeout is raised as OSError, as a real bus raises a NACK.


def encode_request(bus_number: int, messages: Sequence[I2cMessage]) -> bytes:
    """One request line."""
    msgs: list[dict[str, Any]] = [
        {"addr": m.address, "write": m.data.hex()}
        if isinstance(m, I2cWrite)
        else {"addr": m.address, "read": m.length}
        for m in messages
    ]
    return json.dumps({"bus": bus_number, "msgs": msgs}, separators=(",", ":")).encode() + b"\n"


def decode_request(line: bytes) -> tuple[int, list[I2cMessage]]:
    """Parse one request line; ValueError says what is wrong with it."""
    try:
        request = json.loads(line)
        bus = request["bus"]
        raw_msgs = request["msgs"]
        if not isinstance(bus, int) or not isinstance(raw_msgs, list):
            raise TypeError("bus must be an integer and msgs a list")
        if not 0 < len(raw_msgs) <= MAX_MESSAGES:
            raise ValueError(f"a transaction has 1..{MAX_MESSAGES} messages")
        return bus, [_decode_message(m) for m in raw_msgs]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"bad request: {err}") from err


def _decode_message(raw: Any) -> I2cMessage:
    address = raw["addr"]
    if not isinstance(address, int) or not 0 <= address <= 0x7F:
        raise ValueError(f"addr {address!r} is not a 7-bit address")
    if "write" in raw:
        data = bytes.fromhex(raw["write"])
        if len(data) > MAX_MESSAGE_LENGTH:
            raise ValueError(f"write of {len(data)} bytes is too long")
        return I2cWrite(address, data)
    length = raw["read"]
    if not isinstance(length, int) or not 0 < length <= MAX_MESSAGE_LENGTH:
        raise ValueError(f"read length {length!r} out of range")
    return I2cRead(address, length)


def encode_reply(reads: Sequence[bytes]) -> bytes:
    """A success reply line."""
    return json.dumps({"ok": True, "reads": [r.hex() for r in reads]}).encode() + b"\n"


def encode_failure(error: OSError) -> bytes:
    """A failure reply line carrying the errno the client raises."""
    code = error.errno if error.errno is not None else errno.EIO
    return (
        json.dumps({"ok": False, "errno": code, "error": error.strerror or str(error)}).encode()
        + b"\n"
    )


class SocketI2cBus(TransferI2cBus):
    """An I2cBus whose transactions run on the SMBus double behind a Unix socket.

    Blocking, one request at a time; connects lazily and reconnects after any failure.
    """

    def __init__(self, path: str | Path, bus_number: int, timeout_s: float = 1.0) -> None:
        self.path = str(path)
        self.bus_number = bus_number
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buffer = b""

    def transfer(self, messages: Sequence[I2cMessage]) -> list[bytes]:
        """Send one transaction; OSError if the double refuses it or cannot be reached."""
        request = encode_request(self.bus_number, messages)
        with self._lock:
            reused = self._sock is not None
            try:
                line = self._exchange(request)
            except ConnectionError:
                if not reused:
                    raise
                line = self._exchange(request)  # the double restarted since the last call
        return _reads_from_reply(line, messages)

    def close(self) -> None:
        """Drop the connection (the next call reconnects)."""
        with self._lock:
            self._disconnect()

    def _exchange(self, request: bytes) -> bytes:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(self.timeout_s)
                self._sock.connect(self.path)
            self._sock.sendall(request)
            return self._read_line(self._sock)
        except OSError:
            self._disconnect()
            raise

    def _read_line(self, sock: socket.socket) -> bytes:
        while b"\n" not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, f"SMBus double at {self.path} hung up")
            self._buffer += chunk
            if len(self._buffer) > 4 * MAX_MESSAGES * MAX_MESSAGE_LENGTH:
                raise OSError(errno.EPROTO, "SMBus double reply too long")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""


def _reads_from_reply(line: bytes, messages: Sequence[I2cMessage]) -> list[bytes]:
    try:
        reply = json.loads(line)
        if not reply["ok"]:
            raise OSError(int(reply["errno"]), str(reply["error"]))
        reads = [bytes.fromhex(r) for r in reply["reads"]]
    except (KeyError, TypeError, ValueError) as err:
        raise OSError(errno.EPROTO, f"malformed reply from the SMBus double: {err}") from err
    lengths = [m.length for m in messages if isinstance(m, I2cRead)]
    if [len(r) for r in reads] != lengths:
        raise OSError(errno.EIO, f"short read from the SMBus double: wanted {lengths}")
    return reads


# --- one chip on a bus, as the drivers see it -------------------------------------------------


class I2cDevice:
    """A chip at one address: async bus calls and errors naming the device and `i2c-N 0xAA`."""

    def __init__(self, bus: I2cBus, bus_number: int, address: int, device: str) -> None:
        self.bus = bus
        self.address = address
        self.device = device
        self.where = f"i2c-{bus_number} 0x{address:02x}"

    def timeout(self, problem: str) -> DeviceTimeout:
        """A DeviceTimeout naming this chip."""
        return DeviceTimeout(self.device, self.where, problem)

    def garbage(self, problem: str) -> DeviceGarbage:
        """A DeviceGarbage naming this chip."""
        return DeviceGarbage(self.device, self.where, problem)

    async def read_register(self, register: int) -> int:
        """One register."""
        value = await self._call(
            f"reading register 0x{register:02x}", self.bus.read_byte_data, register
        )
        if not 0 <= value <= 0xFF:
            raise self.garbage(f"register 0x{register:02x} read as {value}")
        return value

    async def write_register(self, register: int, value: int) -> None:
        """Write one register."""
        await self._call(
            f"writing register 0x{register:02x}", self.bus.write_byte_data, register, value
        )

    async def read_registers(self, register: int, length: int) -> bytes:
        """`length` bytes from `register` on (the caller sets the chip's auto-increment bit)."""
        data = await self._call(
            f"reading register 0x{register:02x}", self.bus.read_i2c_block_data, register, length
        )
        if len(data) != length or any(not 0 <= b <= 0xFF for b in data):
            raise self.garbage(f"asked for {length} bytes from 0x{register:02x}, got {data!r}")
        return bytes(data)

    async def write_registers(self, register: int, data: bytes) -> None:
        """Write bytes from `register` on."""
        await self._call(
            f"writing register 0x{register:02x}",
            self.bus.write_i2c_block_data,
            register,
            list(data),
        )

    async def read(self, length: int) -> bytes:
        """A plain read transaction of `length` bytes."""

        def read() -> bytes:
            msg = i2c_msg.read(self.address, length)
            self.bus.i2c_rdwr(msg)
            return message_bytes(msg)

        return await self._run(f"reading {length} bytes", read)

    async def write(self, data: bytes) -> None:
        """A plain write transaction."""

        def write() -> None:
            self.bus.i2c_rdwr(i2c_msg.write(self.address, data))

        await self._run(f"writing {len(data)} bytes", write)

    async def _call(self, what: str, method: Callable[..., T], *args: Any) -> T:
        return await self._run(what, lambda: method(self.address, *args))

    async def _run(self, what: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except OSError as err:
            raise self.timeout(
                f"no answer {what} ({err}); check the wiring and the I2C address in the profile"
            ) from err
