"""An in-process Modbus bus: the real drivers' requests go straight to the register models.

For fast tests that run thousands of control cycles on virtual time. Everything above the
transport is the same as on a real bus: the drivers encode requests and decode replies, and a
register model's refusal arrives as an exception response would (DeviceGarbage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runtime.drivers.modbus import ModbusBus, ModbusClient, PacketTrace
from runtime.hardware.errors import DeviceGarbage, DeviceTimeout
from runtime.sim.register_device import RegisterDevice, RegisterError


class LocalModbusBus(ModbusBus):
    """A ModbusBus whose devices are register models in this process."""

    def __init__(self, devices: Mapping[int, RegisterDevice], label: str = "local bus") -> None:
        super().__init__(_no_client, label=label, timeout_s=0.0)
        self.devices = dict(devices)
        self.silent: set[int] = set()  # units that do not answer

    def _device(self, unit: int, device: str) -> RegisterDevice:
        model = self.devices.get(unit)
        if model is None or unit in self.silent:
            raise DeviceTimeout(device, self.where(unit), "no reply")
        return model

    async def read_input_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC04 on the model."""
        try:
            return self._device(unit, device).read_input_registers(address, count)
        except RegisterError as error:
            raise DeviceGarbage(device, self.where(unit), f"exception {error.code}") from None

    async def read_holding_registers(
        self, unit: int, address: int, count: int, *, device: str = "Modbus device"
    ) -> list[int]:
        """FC03 on the model."""
        try:
            return self._device(unit, device).read_holding_registers(address, count)
        except RegisterError as error:
            raise DeviceGarbage(device, self.where(unit), f"exception {error.code}") from None

    async def write_register(
        self, unit: int, address: int, value: int, *, device: str = "Modbus device"
    ) -> None:
        """FC06 on the model."""
        await self.write_registers(unit, address, [value], device=device)

    async def write_registers(
        self, unit: int, address: int, values: Sequence[int], *, device: str = "Modbus device"
    ) -> None:
        """FC16 on the model."""
        try:
            self._device(unit, device).write_holding_registers(address, list(values))
        except RegisterError as error:
            raise DeviceGarbage(device, self.where(unit), f"exception {error.code}") from None

    async def close(self) -> None:
        """Nothing to close."""


def _no_client(_trace: PacketTrace) -> ModbusClient:
    raise AssertionError("a LocalModbusBus never opens a pymodbus client")
