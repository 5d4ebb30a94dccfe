"""Runs the real I2C drivers against the SMBus double: over its Unix socket, or in-process.

Tests build the simulated board, then hand a scenario (an async function of the bus) to one
of the runners; each runner owns its event loop, server and connection for that scenario.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from runtime.drivers.i2c import I2cBus, SocketI2cBus
from runtime.sim.smbus_double import ChargerI2c, SmbusDoubleServer
from schemas.hardware import I2cDevices

T = TypeVar("T")
Scenario = Callable[[I2cBus], Coroutine[Any, Any, T]]


def charger_board(**devices: int) -> ChargerI2c:
    """The communication board's chips at the profile's default (or given) bus and addresses."""
    return ChargerI2c.from_config(I2cDevices.model_validate(devices))


def run_on_socket(tmp_path: Path, board: ChargerI2c, scenario: Scenario[T]) -> T:
    """Serve the board on a socket in tmp_path and run the scenario on a SocketI2cBus to it."""
    path = tmp_path / "i2c.sock"

    async def main() -> T:
        async with SmbusDoubleServer(board.double, path):
            bus = SocketI2cBus(path, board.bus_number, timeout_s=2.0)
            try:
                return await scenario(bus)
            finally:
                bus.close()

    return asyncio.run(main())


def run_local(board: ChargerI2c, scenario: Scenario[T]) -> T:
    """Run the scenario on an in-process bus to the board (fast, for Hypothesis)."""
    return asyncio.run(scenario(board.local_bus()))
