"""`python -m runtime.sim` as a developer meets it: one-line errors when no simulation runs, and a
status whose first line is the charger at a glance (the evse's state when it answers)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from runtime.config.loader import load_profile
from runtime.drivers.pca9634 import Pca9634
from runtime.evse.states import LED_RGBW, LedColour
from runtime.hardware.sim_endpoints import SimEndpoints, sim_endpoints_path
from runtime.sim.api_models import EvseView, SimFault
from runtime.sim.cli import default_data_dir, main
from runtime.sim.control import create_app
from runtime.sim.rig import SimRig
from runtime.sim.status_text import headline, status_text

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory with a short path (Unix socket paths have at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="simcli-", dir="/tmp"))
    (path / "run").mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.sim", "--data-dir", str(data_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def rig() -> SimRig:
    return SimRig.from_profile(load_profile(SIMULATED).profile)


@asynccontextmanager
async def unix_app(app: web.Application, path: Path) -> AsyncIterator[None]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    try:
        yield
    finally:
        await runner.cleanup()


def fake_evse(state: str, led: str) -> web.Application:
    """An evse API that answers GET /status like the service (fields the sim ignores too)."""

    async def status(request: web.Request) -> web.Response:
        return web.json_response(
            {"evse_id": 1, "state": state, "led": led, "ocpp_status": "Available",
             "cp_state": "A", "transaction": None, "faults": [], "uptime_s": 3.0}
        )  # fmt: skip

    app = web.Application()
    app.router.add_get("/status", status)
    return app


def test_without_a_simulation_every_command_fails_in_one_line(data_dir: Path) -> None:
    for args in (("status",), ("plug",), ("card", "FB433810")):
        result = run_cli(data_dir, *args)
        assert result.returncode == 1
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("sim: the simulation is not running: no ")


def test_a_stale_sim_json_is_reported_as_not_running(data_dir: Path) -> None:
    endpoints = SimEndpoints(
        internal_port=1,
        external_port=2,
        i2c_socket=str(data_dir / "run" / "i2c.sock"),
        control_socket=str(data_dir / "run" / "sim.sock"),
    )
    sim_endpoints_path(data_dir).write_text(endpoints.model_dump_json(), encoding="utf-8")
    result = run_cli(data_dir, "status")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "sim.sock does not answer" in result.stderr


def test_status_headline_shows_the_evse_state_when_the_evse_answers(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = data_dir / "run"
    endpoints = SimEndpoints(
        internal_port=1,
        external_port=2,
        i2c_socket=str(run / "i2c.sock"),
        control_socket=str(run / "sim.sock"),
    )
    sim_endpoints_path(data_dir).write_text(endpoints.model_dump_json(), encoding="utf-8")

    async def scenario() -> int:
        async with (
            unix_app(create_app(rig(), run / "evse.sock"), run / "sim.sock"),
            unix_app(fake_evse("available", "green"), run / "evse.sock"),
        ):
            return await asyncio.to_thread(main, ["--data-dir", str(data_dir), "status"])

    assert asyncio.run(scenario()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "evse: available   LED: green   CP: A   car: unplugged"
    assert lines[1].split() == ["evse", "available,", "OCPP", "Available,", "no", "transaction,",
                                "no", "faults"]  # fmt: skip


def test_without_the_evse_the_headline_shows_the_led_as_the_chip_drives_it() -> None:
    simulation = rig()
    chips = simulation.chips
    led = Pca9634(chips.local_bus(), bus_number=chips.bus_number, address=0x30)
    asyncio.run(led.show(LED_RGBW[LedColour.LIGHT_BLUE]))
    assert headline(simulation.status()) == (
        "evse: not running   LED: light_blue   CP: A   car: unplugged"
    )


def test_the_data_directory_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEOS_DATA_DIR", "/srv/chargeos")
    assert default_data_dir() == Path("/srv/chargeos")
    monkeypatch.delenv("CHARGEOS_DATA_DIR")
    assert default_data_dir() == Path("var/data")


def test_an_unknown_fault_kind_is_refused_with_the_list(data_dir: Path) -> None:
    result = run_cli(data_dir, "fault", "lightning")
    assert result.returncode == 2
    assert "rcm" in result.stderr
    assert "overcurrent" in result.stderr


def test_status_shows_a_vanished_led_driver_and_the_evse_warning() -> None:
    simulation = rig()
    simulation.inject(SimFault.LED)
    simulation.inject(SimFault.ACCELEROMETER)
    evse = EvseView(state="charging", warnings=({"kind": "led"},))
    text = status_text(simulation.status().model_copy(update={"evse": evse}))
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert lines["evse"].endswith("no faults, warning led")
    assert lines["LED"].endswith("NOT ANSWERING")
    assert lines["accel."].endswith("NOT ANSWERING")
