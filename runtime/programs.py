"""The supervisord programs of ChargeOS, as one description table.

Both the development runner (`make run`) and the image's rootfs overlay render their
supervisord configuration from this table, so the Admin page sees the same names everywhere.
A program is listed here only once the service it runs exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    """One supervisord program: a Python module run with the data directory."""

    name: str
    module: str
    description: str
    autostart: bool = True
    simulation_only: bool = False
    priority: int = 500  # supervisord starts lower numbers first
    arguments: str = ""  # after --data-dir, e.g. a subcommand


PROGRAMS: tuple[Program, ...] = (
    Program(
        "sim",
        "runtime.sim",
        "simulated power board, meters, car and I2C chips",
        simulation_only=True,
        priority=100,
        arguments="serve",
    ),
    Program("evse", "runtime.evse", "charging controller", priority=200),
    Program("webapp", "webui", "web configurator", priority=300),
)


def programs_for(simulated: bool) -> tuple[Program, ...]:
    """The programs a charger runs: the simulation only on simulated hardware."""
    return tuple(p for p in PROGRAMS if simulated or not p.simulation_only)
