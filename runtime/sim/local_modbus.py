"""An in-process Modbus bus: the real drivers' requests go straight to the register models.

For fast tests that run thousands of control cycles on virtual time. Everything above the
transport is the same as on a real bus: the drivers encode requests and decode replies, one
request holds the bus at a time (urgent units first), a register model's refusal arrives as an
exception response would (DeviceGarbage), and a lost reply costs the unit's reply timeout.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from runtime.drivers.modbus import ModbusBus, ModbusClient, PacketTrace
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.sim.modbus_server import FLAKY_REPLIES
from runtime.sim.register_device import RegisterDevice, RegisterError

T = TypeVar("T")


class LocalModbusBus(ModbusBus):
    """A ModbusBus whose devices are register models in this process."""

    def __init__(
        self, devices: Mapping[int, RegisterDevice], label: str = "local bus", timeout_s: float = 0
    ) -> None:
        super().__init__(_no_client, label=label, timeout_s=timeout_s)
        self.devices = dict(devices)
        self.silent: set[int] = set()  # units that do not answer
        self._flaky: dict[int, Iterator[str]] = {}

    def set_flaky(self, unit: int, flaky: bool) -> None:
        """Make `unit` lose or garble every other reply (`FLAKY_REPLIES`), or heal it."""
        if flaky:
            self._flaky.setdefault(unit, itertools.cycle(FLAKY_REPLIES))
        else:
            self._flaky.pop(unit, None)

    async def _on_model(self, unit: int, device: str, act: Callable[[RegisterDevice], T]) -> T:
        where = self.where(unit)
        async with self.exclusive(unit):
            model = self.devices.get(unit)
            reply = next(self._flaky[unit]) if unit in self._flaky else "ok"
            if model is None or unit in self.silent or reply == "lost":
                await asyncio.sleep(self.reply_timeout_s(unit))  # the master waits in vain
                raise DeviceTimeout(device, where, "no reply")
            try:
                result = act(model)
            except RegisterError as error:
                raise DeviceGarbage(device, where, f"exception {error.code}") from None
            if reply == "garbled":
                raise DeviceGarbage(device, where, "undecodable reply (CRC error)")
            return result

    async def read_input_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC04 on the model."""
        return await self._on_model(
            unit, device, lambda model: model.read_input_registers(address, count)
        )

    async def read_holding_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC03 on the model."""
        return await self._on_model(
            unit, device, lambda model: model.read_holding_registers(address, count)
        )

    async def write_register(
        self, unit: int, address: int, value: int, *, device: str = "Modbus device"
    ) -> None:
        """FC06 on the model."""
        await self.write_registers(unit, address, [value], device=device)

    async def write_registers(
        self, unit: int, address: int, values: Sequence[int], *, device: str = "Modbus device"
    ) -> None:
        """FC16 on the model."""
        await self._on_model(
            unit, device, lambda model: model.write_holding_registers(address, list(values))
        )

    async def close(self) -> None:
        """Nothing to close."""


def _no_client(_trace: PacketTrace) -> ModbusClient:
    raise AssertionError("a LocalModbusBus never opens a pymodbus client")
