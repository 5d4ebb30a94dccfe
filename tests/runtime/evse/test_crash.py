"""Kills of the controller: SIGKILL `evse` at 100 random instants across sessions (1000 in soak).

The simulation runs as its own process (like on the charger, where the power board and the
meter keep their state when the communication board crashes); the evse process is killed and
started again while a driver keeps plugging, presenting cards and unplugging. Afterwards no
transaction is lost or duplicated, each ends with a meter stop value, and energy used equals
stop minus start.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from runtime.hardware.sim_endpoints import sim_endpoints_path
from tests.soak import rounds

REPO = Path(__file__).resolve().parents[3]
# A kill every 0.05-1.5 s across sessions of ~3 s: 100 kills reach every phase of a session
# (plug, authorization, charging, stop, unplug, evse's own start) several times.
KILLS = rounds(100, 1000)
MIN_SESSIONS = KILLS // 10  # the driver keeps starting sessions between the kills
SEED = 61851
OWNER = "FB433810"
START_WAIT_STEPS = 300  # x 0.05 s


def spawn(module: str, data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    log = (data_dir / "log" / f"{module.rsplit('.', 1)[-1]}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", module, "--data-dir", str(data_dir), *args, "--log-level", "WARNING"]
        if module == "runtime.evse"
        else [sys.executable, "-m", module, "--data-dir", str(data_dir), *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def sim_command(session: aiohttp.ClientSession, path: str, body: dict[str, object]) -> None:
    async with session.post(f"http://sim{path}", json=body) as response:
        await response.read()


async def drive_sessions(data_dir: Path, rng: random.Random, stop: asyncio.Event) -> None:
    """An owner who plugs in, presents the card, sometimes stops with it, and unplugs."""
    connector = aiohttp.UnixConnector(path=str(data_dir / "run" / "sim.sock"))
    async with aiohttp.ClientSession(connector=connector) as session:
        while not stop.is_set():
            await sim_command(session, "/plug", {})
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            await sim_command(session, "/card", {"uid": OWNER, "hold_s": 0.4})
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            if rng.random() < 0.5:
                await sim_command(session, "/card", {"uid": OWNER, "hold_s": 0.4})
                await asyncio.sleep(rng.uniform(0.3, 1.0))
            await sim_command(session, "/unplug", {})
            await asyncio.sleep(rng.uniform(0.2, 0.8))


def transactions(database: Path) -> list[tuple[int, int, int, int | None, str, str, str | None]]:
    """Every transaction row; none while evse has not yet committed its schema (a kill during
    the first start leaves the database file without tables: the migration is one transaction)."""
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        if not connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transactions'"
        ).fetchone():
            return []
        return list(
            connection.execute(
                "SELECT number, transaction_id, meter_start_wh, meter_stop_wh, status,"
                " started_at, ended_at FROM transactions ORDER BY number"
            )
        )


@pytest.mark.slow
@pytest.mark.soak
def test_killing_evse_at_random_instants_loses_and_duplicates_no_transaction(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path
    (data_dir / "log").mkdir()
    shutil.copy(REPO / "profiles" / "simulated.yaml", data_dir / "profile.yaml")
    database = data_dir / "chargeos.db"
    rng = random.Random(SEED)
    sim = spawn("runtime.sim", data_dir, "serve")

    async def scenario() -> None:
        for _ in range(START_WAIT_STEPS):
            if sim_endpoints_path(data_dir).exists():
                break
            await asyncio.sleep(0.05)
        json.loads(sim_endpoints_path(data_dir).read_text())
        stop = asyncio.Event()
        driver = asyncio.create_task(drive_sessions(data_dir, rng, stop))
        seen: dict[int, int] = {}  # transaction_id -> number, as seen before each kill
        for _ in range(KILLS):
            evse = spawn("runtime.evse", data_dir)
            await asyncio.sleep(rng.uniform(0.05, 1.5))
            evse.send_signal(signal.SIGKILL)
            evse.wait(timeout=10)
            rows = transactions(database)
            now_seen = {row[1]: row[0] for row in rows}
            assert seen.items() <= now_seen.items(), "a recorded transaction disappeared"
            seen = now_seen
        stop.set()
        await driver
        final = spawn("runtime.evse", data_dir)  # recovery closes what the last kill left open
        for _ in range(START_WAIT_STEPS):
            if (data_dir / "run" / "evse.sock").exists() and all(
                row[4] == "ended" for row in transactions(database)
            ):
                break
            await asyncio.sleep(0.05)
        final.send_signal(signal.SIGTERM)
        final.wait(timeout=10)

    try:
        asyncio.run(scenario())
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)

    rows = transactions(database)
    assert len(rows) >= MIN_SESSIONS, f"only {len(rows)} sessions were started in {KILLS} kills"
    numbers = [row[0] for row in rows]
    ids = [row[1] for row in rows]
    assert numbers == list(range(1, len(rows) + 1))
    assert len(set(ids)) == len(ids)
    for number, _, start_wh, stop_wh, status, started_at, ended_at in rows:
        assert status == "ended", f"transaction {number} never ended"
        assert stop_wh is not None and stop_wh >= start_wh
        assert ended_at is not None and ended_at >= started_at
    for earlier, later in itertools.pairwise(rows):
        assert later[5] >= (earlier[6] or ""), "two transactions overlap on one EVSE"
    assert os.path.getsize(database) > 0
