"""The simulation process, as `make run` starts it: a real subprocess on a data directory, reached
by the real drivers through `run/sim.json` and controlled through the `python -m runtime.sim` CLI.

One simulation serves the whole module; every test leaves it as it found it (car unplugged,
nothing injected, board power-cycled). Waits poll their condition with a bounded loop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from runtime.config.loader import load_profile
from runtime.evse.devices import OpenDevices, open_devices
from runtime.evse.states import LED_RGBW, LedColour
from runtime.hardware.errors import DeviceTimeout
from runtime.hardware.sim_endpoints import SimEndpoints, sim_endpoints_path
from runtime.hardware.types import CpState
from runtime.sim.cli import call
from schemas import Profile

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"
START_POLLS, POLL_S = 150, 0.1  # the simulation announces itself within 15 s
CLI_TIMEOUT_S = 20
T = TypeVar("T")


@dataclass(frozen=True)
class RunningSim:
    """A simulation subprocess and where it listens."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    endpoints: SimEndpoints
    profile: Profile


def short_dir() -> Path:
    """A data directory with a short path (a Unix socket path has at most 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="sim-", dir="/tmp"))


def start_sim(data_dir: Path, profile_text: str) -> subprocess.Popen[bytes]:
    (data_dir / "profile.yaml").write_text(profile_text, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.sim", "serve", "--data-dir", str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_endpoints(process: subprocess.Popen[bytes], data_dir: Path) -> SimEndpoints:
    path = sim_endpoints_path(data_dir)
    for _ in range(START_POLLS):
        if path.exists():
            return SimEndpoints.model_validate_json(path.read_bytes())
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"the simulation exited with {process.returncode}:\n{output}")
        time.sleep(POLL_S)
    pytest.fail(f"no {path} within {START_POLLS * POLL_S:g} s")


def stop_sim(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        raise


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    data_dir = short_dir()
    process = start_sim(data_dir, SIMULATED.read_text(encoding="utf-8"))
    try:
        endpoints = wait_for_endpoints(process, data_dir)
        profile = load_profile(data_dir / "profile.yaml").profile
        yield RunningSim(process, data_dir, endpoints, profile)
    finally:
        stop_sim(process)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def running(sim: RunningSim) -> Iterator[RunningSim]:
    """The module's simulation, put back to rest after the test."""
    yield sim
    if api(sim, "GET", "/status")["car"]["plugged"]:
        api(sim, "POST", "/unplug")
    for path in ("/clear", "/power-cycle"):
        api(sim, "POST", path)
    api(sim, "POST", "/site-load", {"currents_a": [0, 0, 0]})


def api(sim: RunningSim, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The control API straight from the test (quicker than the CLI where the CLI is not tested)."""
    return asyncio.run(call(sim.endpoints, method, path, body))


def cli(sim: RunningSim, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "runtime.sim", "--data-dir", str(sim.data_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def cli_json(sim: RunningSim, *args: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(cli(sim, *args, "--json").stdout)
    return answer


def with_devices(sim: RunningSim, scenario: Callable[[OpenDevices], Awaitable[T]]) -> T:
    """Run `scenario` with the real drivers on the simulation's endpoints."""

    async def main() -> T:
        opened = open_devices(sim.profile, sim.endpoints)
        try:
            return await scenario(opened)
        finally:
            await opened.close()

    return asyncio.run(main())


async def eventually(probe: Callable[[], Awaitable[T]], want: Callable[[T], bool]) -> T:
    """Poll `probe` (bounded) until its value is what we want; the last value otherwise."""
    value = await probe()
    for _ in range(100):
        if want(value):
            break
        await asyncio.sleep(0.05)
        value = await probe()
    return value


def test_the_real_drivers_find_the_board_the_meter_and_the_led(running: RunningSim) -> None:
    async def scenario(opened: OpenDevices) -> None:
        devices = opened.devices
        info = await devices.power_board.probe()
        assert info.firmware_version
        reading = await devices.meter.read()
        assert reading.voltages_v == pytest.approx((230.0, 230.0, 230.0))
        assert devices.led is not None
        await devices.led.probe()
        await devices.led.show(LED_RGBW[LedColour.GREEN])

    with_devices(running, scenario)
    status = cli_json(running, "status")
    assert status["led"]["colour"] == "green"
    assert status["led"]["rgbw"] == [0, 255, 0, 0]


def test_plugging_a_car_puts_the_pilot_in_state_b(running: RunningSim) -> None:
    async def cp_state(opened: OpenDevices) -> CpState:
        board = opened.devices.power_board
        return (await eventually(board.read_status, lambda s: s.cp_state is CpState.B)).cp_state

    assert with_devices(running, lambda o: o.devices.power_board.read_status()).cp_state is (
        CpState.A
    )
    assert "plugged in" in cli(running, "plug", "--capacity-kwh", "5").stdout
    assert with_devices(running, cp_state) is CpState.B
    again = cli(running, "plug", ok=False)
    assert again.returncode == 1
    assert again.stderr.strip() == "sim: a car is already plugged in; unplug it first"


def test_plug_ventilation_brings_a_car_that_asks_in_state_d(running: RunningSim) -> None:
    async def offered_then_cp(opened: OpenDevices) -> CpState:
        board = opened.devices.power_board
        await board.set_pwm(266)  # 16 A offered: the car asks for energy
        asking = await eventually(board.read_status, lambda s: s.cp_state is not CpState.B)
        await board.set_pwm(1000)
        return asking.cp_state

    answer = cli(running, "plug", "--ventilation").stdout
    assert "needs ventilation (state D)" in answer
    assert api(running, "GET", "/status")["car"]["needs_ventilation"] is True
    assert with_devices(running, offered_then_cp) is CpState.D
    assert "needs ventilation" in cli(running, "status").stdout


def test_a_full_car_stays_in_b_and_says_so(running: RunningSim) -> None:
    cli(running, "plug")
    cli(running, "full")
    status = api(running, "GET", "/status")
    assert status["car"]["full"] is True
    assert status["board"]["cp_state"] == "B"


def test_a_held_card_is_read_then_leaves_the_field(running: RunningSim) -> None:
    async def scenario(opened: OpenDevices) -> tuple[str | None, str | None]:
        reader = opened.devices.rfid
        assert reader is not None
        await reader.probe()
        cli(running, "card", "fb433810", "--hold", "0.5")
        seen = await eventually(reader.poll_card, lambda uid: uid is not None)
        gone = await eventually(reader.poll_card, lambda uid: uid is None)
        return seen, gone

    assert with_devices(running, scenario) == ("FB433810", None)


def test_an_rcm_fault_survives_clear_and_needs_a_power_cycle(running: RunningSim) -> None:
    def rcm() -> bool:
        async def read(opened: OpenDevices) -> bool:
            return (await opened.devices.power_board.read_status()).rcm_dc_fault

        return with_devices(running, read)

    cli(running, "fault", "rcm")
    assert rcm()
    cli(running, "clear")
    assert rcm()
    cli(running, "power-cycle")
    assert not rcm()


def test_a_silent_board_times_out_until_the_fault_is_cleared(running: RunningSim) -> None:
    async def read(opened: OpenDevices) -> None:
        await opened.devices.power_board.read_status()

    cli(running, "fault", "board")
    with pytest.raises(DeviceTimeout, match="power board"):
        with_devices(running, read)
    cli(running, "clear")
    with_devices(running, read)


def test_a_silent_meter_times_out_but_the_board_still_answers(running: RunningSim) -> None:
    async def scenario(opened: OpenDevices) -> None:
        await opened.devices.power_board.read_status()
        with pytest.raises(DeviceTimeout):
            await opened.devices.meter.read()

    cli(running, "fault", "meter")
    with_devices(running, scenario)
    assert api(running, "GET", "/status")["meter"]["answering"] is False


def test_injected_conditions_show_in_the_status_and_clear_undoes_them(
    running: RunningSim,
) -> None:
    api(running, "POST", "/plug")
    for kind in ("tilt", "temp", "cp"):
        cli(running, "fault", kind)
    api(running, "POST", "/fault", {"kind": "weld"})
    cli(running, "site-load", "10", "5", "0")
    status = api(running, "GET", "/status")
    assert status["injected"] == ["tilt", "temp", "cp", "weld"]
    assert status["board"]["temperature_c"] == 90.0
    assert status["board"]["cp_state"] == "E"
    assert status["acceleration_g"][0] == pytest.approx(0.7071, abs=1e-3)
    assert status["site_load_a"] == [10.0, 5.0, 0.0]
    cli(running, "clear")
    status = api(running, "GET", "/status")
    assert status["injected"] == []
    assert status["board"]["temperature_c"] == 25.0
    assert status["car"]["cp"] == "B"
    assert status["acceleration_g"] == [0.0, 0.0, 1.0]


def test_status_json_has_car_board_meter_led_and_evse(running: RunningSim) -> None:
    status = cli_json(running, "status")
    assert {"plugged", "cp", "full", "currents_a", "energy_kwh"} <= status["car"].keys()
    assert {"duty_permille", "contactor_closed", "temperature_c"} <= status["board"].keys()
    assert "energy_import_kwh" in status["meter"]
    assert {"colour", "rgbw", "beeps"} <= status["led"].keys()
    assert status["evse"] is None
    assert status["evse_error"] == "not running"


def test_status_headline_reads_like_the_charger_at_a_glance(running: RunningSim) -> None:
    lines = cli(running, "status").stdout.splitlines()
    assert lines[0].startswith("evse: not running   LED: ")
    assert lines[0].endswith("   CP: A   car: unplugged")


def test_bad_arguments_get_a_one_line_reason(running: RunningSim) -> None:
    result = cli(running, "card", "12345", ok=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "sim: /card: uid: UID '12345' is not hex"
    result = cli(running, "temperature", "500", ok=False)
    assert result.returncode == 1
    assert "celsius" in result.stderr


def test_sigterm_withdraws_sim_json_and_exits_cleanly() -> None:
    data_dir = short_dir()
    try:
        process = start_sim(data_dir, SIMULATED.read_text(encoding="utf-8"))
        endpoints = wait_for_endpoints(process, data_dir)
        assert Path(endpoints.control_socket).exists()
        assert stop_sim(process) == 0
        assert not sim_endpoints_path(data_dir).exists()
        assert not Path(endpoints.control_socket).exists()
        assert not Path(endpoints.i2c_socket).exists()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_the_simulation_refuses_a_profile_for_real_hardware() -> None:
    data_dir = short_dir()
    try:
        real = SIMULATED.read_text(encoding="utf-8").replace("simulated: true ", "simulated: false")
        assert "simulated: false" in real
        process = start_sim(data_dir, real)
        output, _ = process.communicate(timeout=CLI_TIMEOUT_S)
        assert process.returncode == 1
        assert b"hardware.simulated is false" in output
        assert not sim_endpoints_path(data_dir).exists()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
