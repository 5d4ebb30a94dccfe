"""Async Modbus RTU bus: one request at a time, a timeout per request, typed device errors.

The same RTU frames go over an RS485 serial port on the charger or over a loopback TCP socket
to the simulated devices. Callers never see a pymodbus exception: no reply is `DeviceTimeout`,
a reply that is malformed, short, corrupted or an exception response is `DeviceGarbage`.
A unit can be made urgent (its requests overtake waiting ones) or given a shorter reply timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU

from runtime.drivers.bus_lock import PriorityLock
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from schemas.hardware import SerialBus

_LOG = logging.getLogger(__name__)

# Modbus application protocol v1.1b3 §6.3/§6.12: at most 125 registers per read, 123 per write.
MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123
# pymodbus times out the reply itself; this outer guard only catches a stuck client (connect
# plus request, each bounded by the bus timeout, plus scheduling slack).
_GUARD_SLACK_S = 0.1
_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}

ModbusClient = AsyncModbusSerialClient | AsyncModbusTcpClient
PacketTrace = Callable[[bool, bytes], bytes]


@dataclass(frozen=True)
class DeviceRef:
    """A device's name and where it sits, for error messages."""

    device: str
    where: str

    def garbage(self, problem: str) -> DeviceGarbage:
        """A `DeviceGarbage` naming this device and address."""
        return DeviceGarbage(self.device, self.where, problem)

    def timeout(self, problem: str) -> DeviceTimeout:
        """A `DeviceTimeout` naming this device and address."""
        return DeviceTimeout(self.device, self.where, problem)


class ModbusBus:
    """One Modbus RTU bus (an RS485 line or a simulated one) shared by its devices."""

    def __init__(
        self, make_client: Callable[[PacketTrace], ModbusClient], *, label: str, timeout_s: float
    ) -> None:
        self.label = label
        self.timeout_s = timeout_s
        self._make_client = make_client
        self._client: ModbusClient | None = None  # made on first use, inside the event loop
        self._lock = PriorityLock()
        self._urgent_units: set[int] = set()
        self._reply_timeouts: dict[int, float] = {}
        self._received = b""

    @classmethod
    def serial(cls, bus: SerialBus, *, name: str = "internal") -> ModbusBus:
        """RTU on an RS485 serial port, e.g. label `internal RS485 /dev/ttyS1`."""

        def make(trace: PacketTrace) -> ModbusClient:
            return AsyncModbusSerialClient(
                bus.port,
                framer=FramerType.RTU,
                baudrate=bus.baudrate,
                bytesize=8,
                parity=bus.parity,
                stopbits=bus.stop_bits,
                timeout=bus.timeout_s,
                retries=0,
                reconnect_delay=0,
                name=f"{name} RS485",
                trace_packet=trace,
            )

        return cls(make, label=f"{name} RS485 {bus.port}", timeout_s=bus.timeout_s)

    @classmethod
    def loopback(cls, host: str, port: int, *, timeout_s: float = 0.5) -> ModbusBus:
        """RTU frames over TCP to a simulated bus, e.g. label `sim tcp 127.0.0.1:5020`."""

        def make(trace: PacketTrace) -> ModbusClient:
            return AsyncModbusTcpClient(
                host,
                port=port,
                framer=FramerType.RTU,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
                name=f"sim tcp {host}:{port}",
                trace_packet=trace,
            )

        return cls(make, label=f"sim tcp {host}:{port}", timeout_s=timeout_s)

    def where(self, unit: int) -> str:
        """Address text for errors: `<bus label> unit <n>`."""
        return f"{self.label} unit {unit}"

    def unit(self, unit: int, device: str) -> ModbusUnit:
        """A handle for one device on this bus."""
        return ModbusUnit(self, unit, device)

    def set_unit_timing(
        self, unit: int, *, urgent: bool = False, reply_timeout_s: float | None = None
    ) -> None:
        """`urgent`: the unit's requests go before waiting ones; a shorter reply timeout."""
        if urgent:
            self._urgent_units.add(unit)
        else:
            self._urgent_units.discard(unit)
        if reply_timeout_s is None:
            self._reply_timeouts.pop(unit, None)
        elif not 0 < reply_timeout_s <= self.timeout_s:
            raise ValueError(
                f"{self.where(unit)}: reply timeout {reply_timeout_s:g} s is outside "
                f"0..{self.timeout_s:g} s (the bus timeout)"
            )
        else:
            self._reply_timeouts[unit] = reply_timeout_s

    def reply_timeout_s(self, unit: int) -> float:
        """How long a request to `unit` waits for its reply."""
        return self._reply_timeouts.get(unit, self.timeout_s)

    @contextlib.asynccontextmanager
    async def exclusive(self, unit: int) -> AsyncIterator[None]:
        """The bus for one request to `unit` (urgent units overtake waiting requests)."""
        async with self._lock.hold(urgent=unit in self._urgent_units):
            yield

    async def close(self) -> None:
        """Close the port or socket; the next request opens it again."""
        async with self._lock.hold(urgent=True):
            if self._client is not None:
                self._client.close()

    async def read_input_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC04: `count` input registers from `address`."""
        return await self._read(4, unit, address, count, device)

    async def read_holding_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC03: `count` holding registers from `address`."""
        return await self._read(3, unit, address, count, device)

    async def write_register(
        self, unit: int, address: int, value: int, *, device: str = "Modbus device"
    ) -> None:
        """FC06: one holding register; the echo must match."""
        _check_request(unit, address, 1, MAX_WRITE_REGISTERS)
        _check_words([value])
        ref = DeviceRef(device, self.where(unit))
        reply = await self._execute(
            ref,
            unit,
            6,
            address,
            lambda client: client.write_register(address, value, device_id=unit),
        )
        if reply.address != address or list(reply.registers) != [value]:
            raise ref.garbage(
                f"FC06 echo {reply.address}={list(reply.registers)} does not match the "
                f"write of {value} to register {address}"
            )

    async def write_registers(
        self, unit: int, address: int, values: Sequence[int], *, device: str = "Modbus device"
    ) -> None:
        """FC16: consecutive holding registers; the reply must confirm address and count."""
        _check_request(unit, address, len(values), MAX_WRITE_REGISTERS)
        _check_words(values)
        ref = DeviceRef(device, self.where(unit))
        words = list(values)
        reply = await self._execute(
            ref,
            unit,
            16,
            address,
            lambda client: client.write_registers(address, words, device_id=unit),
        )
        if reply.address != address or reply.count != len(values):
            raise ref.garbage(
                f"FC16 reply confirms {reply.count} register(s) at {reply.address}, "
                f"expected {len(values)} at {address}"
            )

    async def _read(
        self, function_code: int, unit: int, address: int, count: int, device: str
    ) -> list[int]:
        _check_request(unit, address, count, MAX_READ_REGISTERS)
        ref = DeviceRef(device, self.where(unit))

        def request(client: ModbusClient) -> Awaitable[ModbusPDU]:
            if function_code == 4:
                return client.read_input_registers(address, count=count, device_id=unit)
            return client.read_holding_registers(address, count=count, device_id=unit)

        reply = await self._execute(ref, unit, function_code, address, request)
        registers = list(reply.registers)
        if len(registers) != count:
            raise ref.garbage(
                f"FC{function_code:02d} at register {address}: asked for {count} "
                f"register(s), got {len(registers)}"
            )
        return registers

    async def _execute(
        self,
        ref: DeviceRef,
        unit: int,
        function_code: int,
        address: int,
        request: Callable[[ModbusClient], Awaitable[ModbusPDU]],
    ) -> ModbusPDU:
        what = f"FC{function_code:02d} at register {address}"
        reply_timeout_s = self.reply_timeout_s(unit)
        guard_s = 2 * self.timeout_s + _GUARD_SLACK_S
        if unit in self._reply_timeouts:
            guard_s = reply_timeout_s  # a short-timeout unit never holds the bus for longer
        async with self.exclusive(unit):
            try:
                async with asyncio.timeout(guard_s):
                    client = await self._connected_client(ref)
                    self._received = b""
                    reply = await request(client)
            except (ModbusException, OSError, TimeoutError) as error:
                self._drop_connection(ref, error)
                if self._received:
                    raise ref.garbage(
                        f"{what}: undecodable reply (CRC or framing error): "
                        f"{self._received[:32].hex(' ')}"
                    ) from None
                raise ref.timeout(f"{what}: no reply within {reply_timeout_s:g} s") from None
        if reply.isError():
            code = reply.exception_code
            name = _EXCEPTION_NAMES.get(code, "unknown exception")
            raise ref.garbage(f"{what}: exception response {code} ({name})")
        if reply.function_code != function_code:
            raise ref.garbage(f"{what}: reply has function code {reply.function_code}")
        return reply

    async def _connected_client(self, ref: DeviceRef) -> ModbusClient:
        if self._client is None:
            self._client = self._make_client(self._trace_packet)
        if not self._client.connected and not await self._client.connect():
            raise ref.timeout(f"cannot open {self.label}")
        return self._client

    def _drop_connection(self, ref: DeviceRef, error: BaseException) -> None:
        # A late or half reply would otherwise be read as the answer to the next request.
        _LOG.debug("%s at %s: %r; reopening the bus", ref.device, ref.where, error)
        if self._client is not None:
            self._client.close()

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._received = data
        return data


@dataclass(frozen=True)
class ModbusUnit:
    """One device on a bus: its unit address and name, so drivers need not repeat them."""

    bus: ModbusBus
    unit: int
    device: str

    @property
    def ref(self) -> DeviceRef:
        """Name and address for errors."""
        return DeviceRef(self.device, self.bus.where(self.unit))

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC04 on this device."""
        return await self.bus.read_input_registers(self.unit, address, count, device=self.device)

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC03 on this device."""
        return await self.bus.read_holding_registers(self.unit, address, count, device=self.device)

    async def write_register(self, address: int, value: int) -> None:
        """FC06 on this device."""
        await self.bus.write_register(self.unit, address, value, device=self.device)

    async def write_registers(self, address: int, values: Sequence[int]) -> None:
        """FC16 on this device."""
        await self.bus.write_registers(self.unit, address, values, device=self.device)


def _check_request(unit: int, address: int, count: int, max_count: int) -> None:
    if not 1 <= unit <= 247:
        raise ValueError(f"Modbus unit address {unit} is outside 1..247")
    if not 0 <= address <= 0xFFFF or not 1 <= count <= max_count or address + count > 0x10000:
        raise ValueError(f"{count} register(s) at {address}: outside the Modbus address space")


def _check_words(values: Sequence[int]) -> None:
    if not all(0 <= value <= 0xFFFF for value in values):
        raise ValueError(f"register values must be 0..65535, got {list(values)}")
