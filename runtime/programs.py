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


PROGRAMS: tuple[Program, ...] = ()
