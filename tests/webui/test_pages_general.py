"""The General page shows what the evse service reports: a missing LED driver is a warning there.

The evse local API is the real one, served on the data directory's socket around a charger on
virtual time (real drivers, simulated chips); the page is fetched as a logged-in owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.evse.api import create_app, serve_unix
from runtime.evse.commands import Commands
from runtime.evse.csms_bridge import CsmsBridge
from runtime.evse.service import EvseContext, start_controller
from runtime.persistence.event_log import EventLog
from runtime.sim.car import CarSpec
from tests.runtime.evse.virtual_rig import VirtualCharger
from tests.webui.inprocess import Site, open_site

CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=20)


@pytest.fixture
def site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # a Unix socket path is short
        site = open_site(Path(short) / "data")
        yield site
        site.close()


@contextlib.contextmanager
def evse_serving(site: Site) -> Iterator[VirtualCharger]:
    """A virtual charger behind the real evse API on the socket the site reads."""
    charger = VirtualCharger(site.store.profile, site.data_dir / "chargeos.db", CAR)
    controller = charger.controller
    context = EvseContext(
        controller,
        Commands(controller, asyncio.Event()),
        charger.transactions,
        EventLog(charger.database),
    )
    app = create_app(context, CsmsBridge(controller.events))
    runner = site.run(serve_unix(app, site.state.settings.evse_socket))
    try:
        site.run(start_controller(controller))
        yield charger
    finally:
        site.run(runner.cleanup())
        charger.close()


def test_a_missing_led_driver_is_a_warning_on_the_general_page(site: Site) -> None:
    owner = site.logged_in("ev")
    with evse_serving(site) as charger:
        site.run(charger.advance(1.0))
        page = owner.get("/general").text
        assert 'data-live="warnings">none<' in page
        charger.chips.led.answering = False
        site.run(charger.advance(10.0))
        page = owner.get("/general").text
        assert "the status LED driver does not answer" in page
        assert 'data-live="faults">none<' in page  # a warning, not a fault: charging works
        charger.chips.led.answering = True
        site.run(charger.advance(1.0))
        assert 'data-live="warnings">none<' in owner.get("/general").text
