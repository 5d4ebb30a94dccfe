"""`python -m runtime.evse --data-dir DIR`: the charging controller service (supervisord `evse`).

Loads the active profile, opens the devices (real buses or the simulation), the database,
and serves the local API on DIR/run/evse.sock until SIGTERM, SIGINT or a reset command.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime import heartbeat
from runtime.boot.started import write_started
from runtime.config.errors import ProfileInvalid
from runtime.config.validated_copy import load_active_profile
from runtime.evse.api import create_app, serve_unix
from runtime.evse.authorization import Authorizer
from runtime.evse.clock import Clock
from runtime.evse.commands import Commands
from runtime.evse.controller import Controller
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.devices import open_devices
from runtime.evse.events import EventHub
from runtime.evse.recorder import record_events
from runtime.evse.service import EvseContext, run_controller, start_controller
from runtime.evse.sessions import SessionKeeper
from runtime.evse.snapshot import evse_status
from runtime.hardware.sim_endpoints import wait_for_sim_endpoints
from runtime.persistence.auth_cache import AuthCache
from runtime.persistence.database import Database
from runtime.persistence.errors import PersistenceError
from runtime.persistence.event_log import EventLog
from runtime.persistence.latches import LatchStore
from runtime.persistence.transactions import TransactionStore

log = logging.getLogger("runtime.evse")

SIM_START_TIMEOUT_S = 30.0
EVSE_ID = 1
# The first board reading normally comes within one poll; a board that never answers leaves evse
# faulted, and the configurator must still come up to show why: it starts after this at most.
FIRST_READING_WAIT_S = 10.0
FIRST_READING_STEP_S = 0.05


def api_socket_path(data_dir: Path) -> Path:
    """Where the evse local API listens."""
    return data_dir / "run" / "evse.sock"


async def announce_started(controller: Controller, run_dir: Path) -> None:
    """Write run/evse.started once the control loop has read the board (runtime.boot.started):
    the programs that start after evse wait for it."""
    for _ in range(int(FIRST_READING_WAIT_S / FIRST_READING_STEP_S)):
        if controller.board is not None:
            break
        await asyncio.sleep(FIRST_READING_STEP_S)
    async with controller.lock:  # a whole control step's outcome, not half of one
        status = evse_status(controller)
    try:
        started = await asyncio.to_thread(write_started, run_dir, status.state, status.led)
    except OSError as error:  # the waiting programs start after their bound instead
        log.warning("cannot write %s: %s", run_dir, error)
        return
    log.info("evse started: %s, LED %s (uptime %.2f s)", started.state, started.led,
             started.uptime_s)  # fmt: skip


async def serve(data_dir: Path) -> int:
    """Run the evse service until stopped; the exit code for supervisord."""
    try:
        profile = load_active_profile(data_dir)
    except ProfileInvalid as invalid:
        log.error("the active profile is invalid; not starting:\n%s", invalid)
        return 2
    sim = None
    if profile.hardware.simulated:
        sim = await wait_for_sim_endpoints(data_dir, SIM_START_TIMEOUT_S)
    try:
        database = Database.open(data_dir / "chargeos.db")
    except PersistenceError as error:
        log.error("%s", error)
        return 2
    opened = open_devices(profile, sim)
    clock, events = Clock(), EventHub()
    transactions = TransactionStore(database)
    bridge = CsmsBridge(events)
    sessions = SessionKeeper(
        transactions, EVSE_ID, clock, events, float(profile.csms.meter_values_interval_s or 60)
    )
    authorizer = Authorizer(profile.authorization, AuthCache(database), bridge.available)
    controller = Controller(
        profile, opened.devices, sessions, authorizer, clock, events, LatchStore(database)
    )
    stop = asyncio.Event()
    commands = Commands(controller, stop)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    context = EvseContext(controller, commands, transactions, EventLog(database))
    runner = await serve_unix(create_app(context, bridge), api_socket_path(data_dir))
    recording = asyncio.create_task(record_events(events, context.event_log, clock.now))
    announcing: asyncio.Task[None] | None = None
    try:
        await start_controller(controller)
        log.info("evse running (%s hardware)", "simulated" if sim else "real")
        announcing = asyncio.create_task(announce_started(controller, data_dir / "run"))
        await run_controller(controller, stop)
    finally:
        if announcing is not None:
            announcing.cancel()
        recording.cancel()
        await runner.cleanup()
        await opened.close()
        database.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, set up logging and run."""
    parser = argparse.ArgumentParser(prog="python -m runtime.evse", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the bus wrapper reports for it
    data_dir = args.data_dir.resolve()
    return asyncio.run(heartbeat.while_beating(data_dir, serve(data_dir)))


if __name__ == "__main__":
    sys.exit(main())
