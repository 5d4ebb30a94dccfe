#!/usr/bin/env python3
"""How fast the charging controller reacts, measured through the real Modbus simulation.

Prints, as ratios to the power board poll period (50 ms):
  - CP state change on the board (car C -> B) -> contactor-open command received by the board,
    with a healthy meter and with a flaky one (every other reply lost or garbled)
  - control step stalled (its lock held) -> the board's watchdog opens the contactor
  - card presented to the reader -> LED driver set to light blue
  - CPU use of the evse service idle and while charging, against a baseline process that only
    polls the power board at the same period (same run, same machine)
Run from the repository root: `.venv/bin/python bench/evse_latency.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proc_stat import cpu_seconds  # noqa: E402
from runtime.evse.controller import POLL_PERIOD_S  # noqa: E402
from runtime.evse.states import EvseState, LedColour, colour_of  # noqa: E402
from runtime.hardware.sim_endpoints import sim_endpoints_path  # noqa: E402
from runtime.sim.modbus_server import BusFault  # noqa: E402
from tests.runtime.evse.harness import Rig, running_charger  # noqa: E402

OWNER = "FB433810"


async def contactor_latency(rig: Rig) -> float:
    """Seconds from the car leaving C to the board receiving 'contactor open'."""
    board = rig.station.board
    rig.plug()
    await rig.until_state(EvseState.CONNECTED)
    await rig.present_card(OWNER)
    await rig.until(lambda: board.contactor_command, timeout_s=5)
    await asyncio.sleep(0.3)
    opened_at: list[float] = []
    original = board.write_holding_registers

    def watched(address: int, values: Sequence[int]) -> None:
        original(address, values)
        if not board.contactor_command and not opened_at:
            opened_at.append(time.perf_counter())

    board.write_holding_registers = watched  # type: ignore[method-assign]
    try:
        stopped_at = time.perf_counter()
        rig.station.car.become_full()
        rig.station.tick(0.0)  # the car is in B now, as the board sees it
        await rig.until(lambda: bool(opened_at), timeout_s=2)
    finally:
        board.write_holding_registers = original  # type: ignore[method-assign]
    rig.unplug()
    await rig.until_state(EvseState.AVAILABLE)
    return opened_at[0] - stopped_at


async def stall_latency(rig: Rig) -> float:
    """Seconds from the control step hanging (mid-session) to the board opening the contactor."""
    board = rig.station.board
    rig.plug()
    await rig.until_state(EvseState.CONNECTED)
    await rig.present_card(OWNER)
    await rig.until(lambda: board.contactor_closed, timeout_s=5)
    await asyncio.sleep(0.3)
    async with rig.controller.lock:  # the next step polls, then waits here for ever
        stalled_at = time.perf_counter()
        await rig.until(lambda: not board.contactor_closed, timeout_s=10)
        opened_at = time.perf_counter()
    rig.unplug()
    await rig.until_state(EvseState.AVAILABLE, timeout_s=10)
    return opened_at - stalled_at


async def card_latency(rig: Rig) -> float:
    """Seconds from a card entering the field to the LED driver showing light blue."""
    led = rig.chips.led
    rig.plug()
    await rig.until_state(EvseState.CONNECTED)
    shown_at: list[float] = []
    original = led.write

    def watched(data: bytes) -> None:
        original(data)
        if not shown_at and colour_of(led.colour()) is LedColour.LIGHT_BLUE:
            shown_at.append(time.perf_counter())

    led.write = watched  # type: ignore[method-assign]
    try:
        presented_at = time.perf_counter()
        rig.chips.rfid.present_card(OWNER)
        await rig.until(lambda: bool(shown_at), timeout_s=3)
    finally:
        led.write = original  # type: ignore[method-assign]
        rig.chips.rfid.remove_card()
    await asyncio.sleep(0.3)
    rig.unplug()
    await rig.until_state(EvseState.AVAILABLE)
    return shown_at[0] - presented_at


async def latencies(samples: int) -> dict[str, list[float]]:
    """Repeat every latency measurement on one in-process charger."""
    with tempfile.TemporaryDirectory() as directory:
        async with running_charger(Path(directory)) as rig:
            await rig.until_state(EvseState.AVAILABLE)
            contactor = [await contactor_latency(rig) for _ in range(samples)]
            card = [await card_latency(rig) for _ in range(samples)]
            stall = [await stall_latency(rig) for _ in range(max(1, samples // 3))]
            meter = rig.profile.metering.internal_meter.modbus_address
            rig.modbus.set_fault(meter, BusFault.FLAKY)
            flaky = [await contactor_latency(rig) for _ in range(samples)]
            rig.modbus.set_fault(meter, BusFault.NONE)
    return {"contactor": contactor, "flaky": flaky, "stall": stall, "card": card}


BASELINE = """
import asyncio, sys
from runtime.drivers.modbus import ModbusBus
from runtime.drivers.power_board import ModbusPowerBoard
async def main():
    bus = ModbusBus.loopback("127.0.0.1", int(sys.argv[1]), timeout_s=0.5)
    board = ModbusPowerBoard(bus, 1)
    loop = asyncio.get_running_loop(); next_at = loop.time()
    while True:
        await board.read_status()
        next_at += float(sys.argv[2]); await asyncio.sleep(max(0, next_at - loop.time()))
asyncio.run(main())
"""


async def post(sock: Path, path: str, body: dict[str, object]) -> None:
    connector = aiohttp.UnixConnector(path=str(sock))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(f"http://sim{path}", json=body) as response,
    ):
        await response.read()


def cpu_share(pid: int, seconds: float) -> float:
    """Fraction of one core `pid` used over `seconds`."""
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - start)


def cpu_use(seconds: float) -> dict[str, float]:
    """CPU share of a real evse process idle and charging, and of the bare polling baseline."""
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        (data / "log").mkdir()
        shutil.copy(REPO / "profiles" / "simulated.yaml", data / "profile.yaml")
        python = sys.executable
        sim = subprocess.Popen(
            [python, "-m", "runtime.sim", "--data-dir", str(data), "serve"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes = [sim]
        try:
            for _ in range(200):
                if sim_endpoints_path(data).exists():
                    break
                time.sleep(0.05)
            port = __import__("json").loads(sim_endpoints_path(data).read_text())["internal_port"]
            baseline = subprocess.Popen(
                [python, "-c", BASELINE, str(port), str(POLL_PERIOD_S)], cwd=REPO
            )
            processes.append(baseline)
            time.sleep(2)
            bare = cpu_share(baseline.pid, seconds)
            baseline.send_signal(signal.SIGTERM)
            baseline.wait(10)
            evse = subprocess.Popen(
                [python, "-m", "runtime.evse", "--data-dir", str(data), "--log-level", "WARNING"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(evse)
            time.sleep(3)
            idle = cpu_share(evse.pid, seconds)
            sock = data / "run" / "sim.sock"
            asyncio.run(post(sock, "/plug", {}))
            time.sleep(0.5)
            asyncio.run(post(sock, "/card", {"uid": OWNER, "hold_s": 0.5}))
            time.sleep(2)
            charging = cpu_share(evse.pid, seconds)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(10)
    return {"idle": idle, "charging": charging, "baseline": bare}


def describe(name: str, values: list[float]) -> str:
    median = statistics.median(values)
    worst = max(values)
    return (
        f"{name:<42} median {median * 1000:7.1f} ms = {median / POLL_PERIOD_S:5.2f} x poll"
        f"   worst {worst * 1000:7.1f} ms = {worst / POLL_PERIOD_S:5.2f} x poll"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    args = parser.parse_args()
    measured = asyncio.run(latencies(args.samples))
    print(f"poll period {POLL_PERIOD_S * 1000:.0f} ms, {args.samples} samples each")
    print(describe("CP C->B -> contactor open (healthy meter)", measured["contactor"]))
    print(describe("CP C->B -> contactor open (flaky meter)", measured["flaky"]))
    print(describe("control step stalled -> contactor open", measured["stall"]))
    print(describe("card presented -> LED light blue", measured["card"]))
    cpu = cpu_use(args.cpu_seconds)
    for name in ("idle", "charging"):
        print(
            f"evse CPU {name:<33} {cpu[name] * 100:5.1f} % of a core"
            f" = {cpu[name] / cpu['baseline']:5.2f} x bare poll loop"
            f" ({cpu['baseline'] * 100:.1f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
