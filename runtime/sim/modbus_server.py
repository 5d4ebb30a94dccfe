"""Simulated RS485 buses: pymodbus servers on loopback TCP speaking Modbus RTU frames.

Each bus serves its register models live (every request reads or writes the model itself)
and can be told per device to misbehave: exception responses, wrong lengths, garbage words,
corrupted CRCs or silence. Units nobody serves stay silent, as on a real RS485 line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import cast

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simdevice import SimAction

from runtime.sim.register_device import (
    IllegalFunction,
    RegisterDevice,
    RegisterError,
    RegisterSpan,
)

_LOG = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
INTERNAL_BUS = "internal"
EXTERNAL_BUS = "external"
_READ_HOLDING, _READ_INPUT, _WRITE_SINGLE, _WRITE_MULTIPLE = 3, 4, 6, 16


class BusFault(StrEnum):
    """How a simulated device misbehaves on the bus (tests and the simulation CLI)."""

    NONE = "none"
    EXCEPTION = "exception"  # every request answered with an exception response
    WRONG_LENGTH = "wrong_length"  # reads answered with one register too few (or too many)
    GARBAGE = "garbage"  # reads answered with 0xFFFF in every register (NaN for floats)
    SILENT = "silent"  # no answer at all: the master times out
    BAD_CRC = "bad_crc"  # answers with a corrupted CRC
    FLAKY = "flaky"  # every other reply lost or garbled (FLAKY_REPLIES), never 3 failures in a row


# BusFault.FLAKY cycles through these, one per request.
FLAKY_REPLIES = ("ok", "lost", "ok", "garbled")


@dataclass
class _Endpoint:
    """One device on a simulated bus and its fault switch."""

    unit: int
    device: RegisterDevice
    fault: BusFault = BusFault.NONE
    exception_code: ExcCodes = ExcCodes.DEVICE_FAILURE
    _echo: tuple[int, tuple[int, ...]] = (-1, ())
    _requests: int = 0
    reply: str = "ok"  # what becomes of the reply being built (BusFault.FLAKY)

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus SimDevice hook: consult the model before pymodbus builds the reply."""
        self.reply = "ok"
        if self.fault is BusFault.FLAKY:
            self.reply = FLAKY_REPLIES[self._requests % len(FLAKY_REPLIES)]
            self._requests += 1
        if self.fault is BusFault.SILENT or self.reply == "lost":
            raise NoSuchIdException(f"unit {self.unit} is silent (fault injection)")
        if self.fault is BusFault.EXCEPTION:
            return self.exception_code
        try:
            if set_values is not None:
                written = [int(v) for v in set_values]
                self.device.write_holding_registers(address, written)
                self._echo = (address, tuple(written))
                return None
            words = self._read(function_code, address, count)
        except RegisterError as refused:
            _LOG.debug(
                "unit %d refuses FC%02d at %d: %s", self.unit, function_code, address, refused
            )
            return ExcCodes(refused.code)
        if self.fault is BusFault.GARBAGE:
            words = [0xFFFF] * count
        offset = address - start_address
        registers[offset : offset + count] = words
        return None

    def _read(self, function_code: int, address: int, count: int) -> list[int]:
        if function_code == _WRITE_SINGLE and self._echo[0] == address:
            # Modbus spec §6.6: the FC06 reply echoes the request (pymodbus reads back instead).
            return list(self._echo[1][:count])
        if function_code == _READ_INPUT:
            return self.device.read_input_registers(address, count)
        if function_code in (_READ_HOLDING, _WRITE_SINGLE, _WRITE_MULTIPLE):
            return self.device.read_holding_registers(address, count)
        raise IllegalFunction(f"function code {function_code} is not supported")


async def _nobody(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    raise NoSuchIdException("no device at this unit address")


def _sim_device(
    unit: int, inputs: RegisterSpan, holdings: RegisterSpan, action: SimAction
) -> SimDevice:
    def block(span: RegisterSpan) -> list[SimData]:
        return [SimData(span.first, count=span.count, values=0, datatype=DataType.REGISTERS)]

    def no_bits() -> list[SimData]:
        return [SimData(0, values=False, datatype=DataType.BITS)]

    return SimDevice(
        unit, simdata=(no_bits(), no_bits(), block(holdings), block(inputs)), action=action
    )


class SimBus:
    """One simulated RS485 bus: a pymodbus TCP server on loopback with the RTU framer."""

    def __init__(self, name: str, *, host: str = LOOPBACK, port: int = 0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"simulated buses listen on loopback only, not {host}")
        self.name = name
        self.host = host
        self._requested_port = port
        self._endpoints: dict[int, _Endpoint] = {}
        self._server: ModbusTcpServer | None = None
        self._port: int | None = None

    def add_device(self, unit: int, device: RegisterDevice) -> None:
        """Serve `device` at `unit` (before `start()`)."""
        if not 1 <= unit <= 247:
            raise ValueError(f"Modbus unit address {unit} is outside 1..247")
        if unit in self._endpoints:
            raise ValueError(f"unit {unit} on the {self.name} bus is already taken")
        if self._server is not None:
            raise RuntimeError(f"the {self.name} bus is running; add devices before start()")
        self._endpoints[unit] = _Endpoint(unit, device)

    def device(self, unit: int) -> RegisterDevice:
        """The model served at `unit`."""
        return self._endpoints[unit].device

    def set_fault(
        self, unit: int, fault: BusFault, *, exception_code: int = ExcCodes.DEVICE_FAILURE
    ) -> None:
        """Make the device at `unit` misbehave (`BusFault.NONE` heals it)."""
        endpoint = self._endpoints[unit]
        endpoint.fault = fault
        endpoint.exception_code = ExcCodes(exception_code)

    @property
    def port(self) -> int:
        """The TCP port the bus listens on (after `start()`)."""
        if self._port is None:
            raise RuntimeError(f"the {self.name} bus is not started")
        return self._port

    async def start(self) -> int:
        """Listen; returns the real port (useful with port 0)."""
        if self._server is not None:
            return self.port
        devices = [
            _sim_device(unit, e.device.input_span, e.device.holding_span, e.action)
            for unit, e in self._endpoints.items()
        ]
        anyone = RegisterSpan(0, 1)
        devices.append(_sim_device(0, anyone, anyone, _nobody))
        server = ModbusTcpServer(
            devices,
            framer=FramerType.RTU,
            address=(self.host, self._requested_port),
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        await server.serve_forever(background=True)
        listener = cast(asyncio.Server, server.transport)
        self._port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        _LOG.info(
            "simulated %s bus on %s:%d, units %s",
            self.name,
            self.host,
            self._port,
            sorted(self._endpoints),
        )
        return self._port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        endpoint = self._endpoints.get(pdu.dev_id)
        reads = (_READ_HOLDING, _READ_INPUT)
        if (
            sending
            and endpoint
            and endpoint.fault is BusFault.WRONG_LENGTH
            and pdu.function_code in reads
        ):
            registers = list(pdu.registers)
            pdu.registers = registers[:-1] if len(registers) > 1 else [*registers, 0]
        return pdu

    def _trace_packet(self, sending: bool, packet: bytes) -> bytes:
        if not sending or not packet:
            return packet
        endpoint = self._endpoints.get(packet[0])
        if endpoint is None or endpoint.fault is BusFault.SILENT or endpoint.reply == "lost":
            return b""
        if endpoint.fault is BusFault.BAD_CRC or endpoint.reply == "garbled":
            return packet[:-1] + bytes([packet[-1] ^ 0xFF])
        return packet


class SimModbusServer:
    """The charger's simulated Modbus buses by name ("internal", "external", ...)."""

    def __init__(self, *, host: str = LOOPBACK, ports: Mapping[str, int] | None = None) -> None:
        self.host = host
        self._fixed_ports = dict(ports or {})
        self._buses: dict[str, SimBus] = {}

    def bus(self, name: str = INTERNAL_BUS) -> SimBus:
        """The bus called `name`, created on first use (port from `ports`, else any free one)."""
        if name not in self._buses:
            port = self._fixed_ports.get(name, 0)
            self._buses[name] = SimBus(name, host=self.host, port=port)
        return self._buses[name]

    def add_device(self, unit: int, device: RegisterDevice, *, bus: str = INTERNAL_BUS) -> None:
        """Serve `device` at `unit` on `bus` (start that bus afterwards)."""
        self.bus(bus).add_device(unit, device)

    def set_fault(
        self,
        unit: int,
        fault: BusFault,
        *,
        bus: str = INTERNAL_BUS,
        exception_code: int = ExcCodes.DEVICE_FAILURE,
    ) -> None:
        """Make the device at `unit` on `bus` misbehave."""
        self.bus(bus).set_fault(unit, fault, exception_code=exception_code)

    def port(self, bus: str = INTERNAL_BUS) -> int:
        """The TCP port of a started bus."""
        return self._buses[bus].port

    async def start(self) -> dict[str, int]:
        """Start every bus not yet running; returns every bus's port by name."""
        return {name: await bus.start() for name, bus in self._buses.items()}

    async def stop(self) -> None:
        """Stop every bus."""
        for bus in self._buses.values():
            await bus.stop()

    async def __aenter__(self) -> SimModbusServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
