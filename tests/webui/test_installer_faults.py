"""The Installer page lists the latched faults and clears a tilt (manual 5.4), as a logged event.

The configurator runs in this process next to a real evse service (real drivers, simulated
board and accelerometer, the real local API) on the same event loop; the page reaches evse
through its socket as on the charger.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.evse.recorder import record_events
from runtime.evse.status import EvseStatus
from runtime.persistence.database import Database
from runtime.persistence.latches import LatchStore
from tests.runtime.evse.api_harness import RunningEvse, running_evse
from tests.webui.inprocess import Site, open_site
from tests.webui.test_installer_save_all import Inputs

SUBSCRIBE_POLLS = 100  # x 10 ms until the recorder listens
SETTLE_S = 0.5  # several accelerometer samples (every 100 ms)


@dataclass
class Charger:
    """The configurator and the evse service it talks to."""

    site: Site
    evse: RunningEvse
    database_path: Path  # the evse service's database

    def status_until(self, state: str) -> EvseStatus:
        """Wait (bounded) until evse reports `state`."""
        status: EvseStatus = self.site.run(
            self.evse.status_until(lambda s: s.state == state, state)
        )
        return status

    def tilt(self, angle_deg: float) -> None:
        """Lean the charger, and let evse take a few samples."""
        self.evse.chips.accelerometer.tilt(angle_deg)
        self.site.run(asyncio.sleep(SETTLE_S))


@pytest.fixture
def charger(tmp_path: Path) -> Iterator[Charger]:
    """A provisioned configurator whose evse socket leads to a running evse service."""
    site = open_site(tmp_path / "w")
    stack = contextlib.AsyncExitStack()
    evse: RunningEvse = site.run(stack.enter_async_context(running_evse(tmp_path)))

    async def record() -> asyncio.Task[None]:
        hub = evse.controller.events
        task = asyncio.create_task(record_events(hub, evse.context.event_log, evse.clock.now))
        for _ in range(SUBSCRIBE_POLLS):
            if hub.subscriber_count:
                break
            await asyncio.sleep(0.01)
        return task

    recording: asyncio.Task[None] = site.run(record())
    run_dir = site.data_dir / "run"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "evse.sock").symlink_to(evse.socket_path)
    try:
        yield Charger(site, evse, tmp_path / "chargeos.db")
    finally:
        recording.cancel()
        site.run(stack.aclose())
        site.close()


def latched_tilt(charger: Charger) -> None:
    """Calibrated upright, then tilted: the tilt fault is latched."""
    charger.status_until("available")
    charger.tilt(45)
    charger.status_until("faulted")


def test_the_installer_sees_a_latched_tilt_and_clears_it_as_a_logged_security_event(
    charger: Charger,
) -> None:
    latched_tilt(charger)
    charger.tilt(0)  # inspected and straightened
    installer = charger.site.logged_in("installer")
    page = installer.get("/installer")
    assert page.status == 200
    assert "Latched faults" in page.text and "tilt" in page.text
    assert "with Clear fault below" in page.text
    answer = installer.post("/installer/faults/clear")
    assert answer.status == 200, answer.text
    assert "The latched faults were cleared." in answer.text
    assert charger.status_until("available").faults == ()
    events = charger.site.run(charger.evse.client.event_log(limit=10))
    cleared = [event for event in events if event.code == "faults_cleared"]
    assert cleared and cleared[0].level == "critical"
    assert "installer (web configurator)" in cleared[0].message and "tilt" in cleared[0].message
    assert "No fault is latched." in installer.get("/installer").text


def test_a_power_cycle_fault_is_listed_as_not_clearable_on_the_page(charger: Charger) -> None:
    charger.status_until("available")
    charger.evse.station.board.inject_rcm_fault()
    charger.status_until("faulted")
    installer = charger.site.logged_in("installer")
    page = installer.get("/installer")
    assert "rcm" in page.text and "only by a power cycle" in page.text
    answer = installer.post("/installer/faults/clear")
    assert "No fault that can be cleared here was latched." in answer.text
    assert [fault.kind for fault in charger.status_until("faulted").faults] == ["rcm"]


def test_the_ev_login_may_not_clear_a_fault(charger: Charger) -> None:
    latched_tilt(charger)
    charger.tilt(0)
    ev = charger.site.logged_in("ev")
    ev.get("/general")  # a page the EV login may open, for its CSRF token
    assert ev.post("/installer/faults/clear").status == 403
    assert ev.get("/installer").status == 403
    charger.site.run(asyncio.sleep(SETTLE_S))
    assert [fault.kind for fault in charger.status_until("faulted").faults] == ["tilt"]


def test_a_clear_without_the_csrf_token_is_refused(charger: Charger) -> None:
    latched_tilt(charger)
    charger.tilt(0)
    installer = charger.site.logged_in("installer")
    installer.get("/installer")
    assert installer.post("/installer/faults/clear", csrf=False).status == 403
    assert [fault.kind for fault in charger.status_until("faulted").faults] == ["tilt"]


def test_save_all_recalibrates_the_tilt_sensor_where_the_charger_stands(charger: Charger) -> None:
    charger.status_until("available")
    charger.tilt(12)  # within the Tilt Angle (20°): still available
    installer = charger.site.logged_in("installer")
    parser = Inputs()
    parser.feed(installer.get("/installer").text)
    answer = installer.post("/installer", {**parser.values, "form": "all"})
    assert answer.status == 200, answer.text[:200]
    assert "The tilt sensor takes the charger&#39;s position now as its rest position." in (
        answer.text
    )
    charger.site.run(asyncio.sleep(SETTLE_S))
    with Database.open(charger.database_path) as database:
        stored = LatchStore(database).calibration()
    # taken from the next sample, or (evse restarting first) from the first one after its start
    assert stored is None or math.isclose(stored.rest.x_g, math.sin(math.radians(12)), abs_tol=0.02)
