"""evse trusts only the simulation's endpoints written in this boot.

The endpoints file lives on the data partition. A power cut leaves the previous boot's file
behind; the next boot's evse must wait for the new simulation's file, not connect to ports
nobody listens on any more (seen in qemu: evse stayed red, "cannot open sim tcp", after a cut).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from runtime.boot.started import this_boot
from runtime.hardware.sim_endpoints import (
    SimEndpoints,
    sim_endpoints_path,
    wait_for_sim_endpoints,
)

PREVIOUS = {
    "internal_port": 40001,
    "external_port": 40002,
    "i2c_socket": "/x",
    "control_socket": "",
}


def left_behind(data_dir: Path, fields: dict[str, object]) -> None:
    path = sim_endpoints_path(data_dir)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(fields), encoding="utf-8")


def test_endpoints_a_power_cut_left_without_a_boot_id_are_not_used(tmp_path: Path) -> None:
    left_behind(tmp_path, PREVIOUS)
    with pytest.raises(TimeoutError, match="did not start"):
        asyncio.run(wait_for_sim_endpoints(tmp_path, 0.3))


def test_endpoints_of_another_boot_are_not_used(tmp_path: Path) -> None:
    left_behind(tmp_path, {**PREVIOUS, "boot_id": "0c1e7d3a-another-boot"})
    with pytest.raises(TimeoutError, match="did not start"):
        asyncio.run(wait_for_sim_endpoints(tmp_path, 0.3))


def test_endpoints_written_in_this_boot_are_used(tmp_path: Path) -> None:
    left_behind(tmp_path, {**PREVIOUS, "boot_id": this_boot()})
    assert asyncio.run(wait_for_sim_endpoints(tmp_path, 0.3)) == SimEndpoints(**PREVIOUS)
