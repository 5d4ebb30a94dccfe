"""Where the simulated devices listen: written by the simulation (`runtime.sim`), read by evse
and the simulation's CLI. Its own small module so that the simulation, which only needs this,
does not import the charging controller (a second of CPU at every start of a slow board).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.boot.started import this_boot

SIM_WAIT_STEP_S = 0.1


class SimEndpoints(BaseModel):
    """Where the simulated devices listen (written by the simulation, read by the services).

    The file sits on the data partition, so a power cut leaves it behind: it names the boot that
    wrote it, and only this boot's file is trusted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    internal_port: int
    external_port: int
    i2c_socket: str
    control_socket: str
    p1_pty: str | None = None
    boot_id: str = Field(default_factory=this_boot)


def sim_endpoints_path(data_dir: Path) -> Path:
    """The file the simulation writes its endpoints to."""
    return data_dir / "run" / "sim.json"


async def wait_for_sim_endpoints(data_dir: Path, timeout_s: float) -> SimEndpoints:
    """Read the simulation's endpoints, waiting (bounded) for it to start."""
    path, boot = sim_endpoints_path(data_dir), this_boot()
    for _ in range(max(1, int(timeout_s / SIM_WAIT_STEP_S))):
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(fields, dict) and fields.get("boot_id") == boot:
                return SimEndpoints.model_validate(fields)
        except (OSError, ValueError, ValidationError):
            pass
        await asyncio.sleep(SIM_WAIT_STEP_S)  # not there yet, or left by an earlier boot
    raise TimeoutError(f"{path}: the hardware simulation did not start within {timeout_s:g} s")
