"""`python -m runtime.sim`: run the hardware simulation (`serve`) or act on a running one.

Commands other than `serve` find the simulation through `<data_dir>/run/sim.json` and talk to
its control socket; when it is not running they say so in one line and exit 1. The data
directory defaults to $CHARGEOS_DATA_DIR, else ./var/data (where `make run` puts it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from runtime import heartbeat
from runtime.hardware.sim_endpoints import SimEndpoints, sim_endpoints_path
from runtime.sim.api_models import SimFault, SimStatus
from runtime.sim.status_text import status_text

DATA_DIR_ENV = "CHARGEOS_DATA_DIR"
REQUEST_TIMEOUT_S = 5.0


class CliError(Exception):
    """A one-line reason the command failed (exit status 1)."""


def default_data_dir() -> Path:
    """$CHARGEOS_DATA_DIR, else ./var/data."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path("var") / "data")


def read_endpoints(data_dir: Path) -> SimEndpoints:
    """The running simulation's endpoints; CliError when it is not running."""
    path = sim_endpoints_path(data_dir)
    try:
        return SimEndpoints.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise CliError(
            f"the simulation is not running: no {path} "
            f"(start it with `make run` or `python -m runtime.sim --data-dir {data_dir} serve`)"
        ) from None
    except (OSError, ValidationError) as error:
        problem = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
        raise CliError(f"the simulation's endpoints file {path} is unreadable: {problem}") from None


async def call(
    endpoints: SimEndpoints, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    """One request to the control API; its JSON answer, or CliError with the API's reason."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.UnixConnector(path=endpoints.control_socket)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.request(method, f"http://sim{path}", json=body) as response,
        ):
            answer = await response.json(content_type=None)
    except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionError) as error:
        raise CliError(
            f"the simulation is not running: {endpoints.control_socket} does not answer ({error})"
        ) from None
    except TimeoutError:
        raise CliError(
            f"the simulation did not answer {method} {path} within {REQUEST_TIMEOUT_S:g} s"
        ) from None
    except ValueError as error:
        raise CliError(f"the simulation answered {method} {path} with non-JSON: {error}") from None
    if response.status >= 400:
        reason = answer.get("error") if isinstance(answer, dict) else answer
        raise CliError(str(reason))
    return answer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.sim",
        description="Run the simulated charger hardware, or control the running one.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data directory (default ${DATA_DIR_ENV}, else ./var/data)",
    )
    # Each command also takes --data-dir after its name, as supervisord's command line has it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help="data directory")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text)

    command("serve", "run the simulation (the supervisord program `sim`)")
    plug = command("plug", "plug a car in")
    plug.add_argument("--capacity-kwh", type=float, help="energy the car takes before it is full")
    plug.add_argument("--phases", type=int, choices=(1, 3), help="phases of its onboard charger")
    plug.add_argument("--max-current-a", type=float, help="its onboard charger limit per phase")
    plug.add_argument(
        "--ventilation",
        action="store_true",
        help="the car needs ventilation: it requests state D instead of C",
    )
    command("unplug", "pull the cable out")
    card = command("card", "hold an RFID card at the reader")
    card.add_argument("uid", help="card UID in hex, e.g. FB433810")
    card.add_argument("--hold", type=float, default=1.0, metavar="S", help="seconds (default 1)")
    command("full", "the car's battery is full now")
    fault = command("fault", "inject a fault")
    fault.add_argument("kind", choices=[kind.value for kind in SimFault])
    command("clear", "undo every injected fault (not the RCM latch: power-cycle)")
    command("power-cycle", "power-cycle the power board (clears its latches)")
    temperature = command("temperature", "set the EVSE temperature")
    temperature.add_argument("celsius", type=float)
    site = command("site-load", "set the building's own load on L1..L3 [A]")
    site.add_argument("currents_a", type=float, nargs=3, metavar=("L1", "L2", "L3"))
    status = command("status", "show the simulation and the evse service")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    return parser


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """The control API request a command line stands for."""
    name: str = args.command
    if name == "plug":
        body = {
            "capacity_kwh": args.capacity_kwh,
            "phases": args.phases,
            "max_current_a": args.max_current_a,
            "ventilation": args.ventilation or None,
        }
        return "POST", "/plug", {k: v for k, v in body.items() if v is not None}
    if name == "card":
        return "POST", "/card", {"uid": args.uid, "hold_s": args.hold}
    if name == "fault":
        return "POST", "/fault", {"kind": args.kind}
    if name == "temperature":
        return "POST", "/temperature", {"celsius": args.celsius}
    if name == "site-load":
        return "POST", "/site-load", {"currents_a": args.currents_a}
    if name == "status":
        return "GET", "/status", None
    return "POST", f"/{name}", None


def _serve(data_dir: Path) -> int:
    # Here, not at the top: the control commands (`status`, `card`, ...) need none of the
    # simulation itself (Modbus servers, the profile's schema), and under TCG the test rigs run
    # them every second inside the guest.
    from runtime.sim.process import SimRefused, serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # injected bus faults are noisy
    try:
        asyncio.run(heartbeat.while_beating(data_dir, serve(data_dir)))
    except SimRefused as refused:
        print(f"sim: {refused}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the process exit status."""
    args = _parser().parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    if args.command == "serve":
        return _serve(data_dir)
    method, path, body = _request(args)
    try:
        answer = asyncio.run(call(read_endpoints(data_dir), method, path, body))
        if args.command != "status":
            print(answer.get("message", answer) if isinstance(answer, dict) else answer)
        elif args.json:
            print(json.dumps(answer, indent=2))
        else:
            print(status_text(SimStatus.model_validate(answer)))
    except CliError as error:
        print(f"sim: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:
        print(f"sim: the simulation's status does not parse: {error.errors()[0]}", file=sys.stderr)
        return 1
    return 0
