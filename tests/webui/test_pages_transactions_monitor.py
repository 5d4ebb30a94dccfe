"""Transactions and Monitor pages: rows and downloads come from a running evse service (real
simulation, real local API), never made up; with the evse down both pages say "not available";
fault events read as the manual's monitor lines and refresh as JSON.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from runtime.evse.recorder import record_events
from runtime.persistence.event_log import EventLevel
from runtime.persistence.transaction_export import LABELS
from runtime.persistence.transactions import StopReason
from tests.runtime.evse.api_harness import RunningEvse, running_evse
from tests.webui.inprocess import Site
from tests.webui.test_pages_admin import send

HISTORY_START = datetime(2022, 8, 3, 5, 30, tzinfo=UTC)  # 07:30 in Europe/Amsterdam
HEADINGS = [
    "TX No",
    "TX ID",
    "Time Start",
    "Time End/Now",
    "Duration",
    "NRG Start [kWh]",
    "NRG End/Now [kWh]",
    "NRG Used [kWh]",
    "NRG Avg [kW]",
    "RFID Tag",
    "EVSE",
    "TX Status",
]
GROUND_FAILURE = {
    "kind": "rcm",
    "raised": True,
    "ocpp_error_code": "GroundFailure",
    "vendor_error_code": "RCM_DC_6MA",
    "detail": "",
}
POLLS = 100


class Table(HTMLParser):
    """The header and body cells of the page's tables."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.rows[-1] if self._in_body else self.headings).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_of(html: str) -> Table:
    """The parsed tables of a page."""
    parsed = Table()
    parsed.feed(html)
    return parsed


@contextmanager
def evse_running(site: Site) -> Iterator[RunningEvse]:
    """The evse service (simulated station, real API) on the socket the site's webapp reads."""
    run_dir = site.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    manager = running_evse(run_dir)  # its socket: run_dir/evse.sock, as WebSettings says
    evse = site.run(manager.__aenter__())
    try:
        yield evse
    finally:
        site.run(manager.__aexit__(None, None, None))


def seed(evse: RunningEvse) -> None:
    """Two ended transactions (11.3 kWh in 30 min each) and one still active."""
    store = evse.context.transactions
    rng = random.Random(3)
    for index in range(2):
        started = HISTORY_START + timedelta(hours=index)
        tx = store.start(f"TAG{index:04d}", 53_566 + index * 20_000, 1, started, rng)
        store.stop(
            tx.transaction_id,
            53_566 + index * 20_000 + 11_300,
            StopReason.EV_DISCONNECTED,
            started + timedelta(minutes=30),
        )
    store.start("FB433810", 100_000, 1, HISTORY_START + timedelta(hours=5), rng)


# ----- transactions -------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["installer", "ev"])
def test_with_the_evse_down_the_transactions_page_says_not_available(site: Site, role: str) -> None:
    agent = site.logged_in(role)
    answer = agent.get("/transactions")
    assert answer.status == 200
    assert "Transactions not available: the charging controller does not answer" in answer.text
    assert table_of(answer.text).rows == []  # no made-up rows
    for fmt in ("json", "csv"):
        refused = agent.get(f"/transactions/export.{fmt}")
        assert (refused.status, refused.location) == (303, "/transactions?download=unavailable")
    shown = agent.get("/transactions?download=unavailable").text
    assert "Download Full History not available" in shown


def test_with_a_running_evse_the_recent_transactions_show_in_the_manuals_columns(
    site: Site,
) -> None:
    with evse_running(site) as evse:
        seed(evse)
        answer = site.logged_in("ev").get("/transactions")
    assert answer.status == 200
    assert 'class="table-wrap"' in answer.text  # scrolls sideways inside its box on a phone
    table = table_of(answer.text)
    assert table.headings == HEADINGS
    active, second, first = table.rows
    assert first[0] == "1" and first[2:10] == [
        "03/08/2022 07:30:00",
        "03/08/2022 08:00:00",
        "00:30:00",
        "53.566",
        "64.866",
        "11.300",
        "22.600",
        "TAG0000",
    ]
    assert first[10:] == ["1", "ended (EVDisconnected)"]
    assert second[0] == "2" and second[2] == "03/08/2022 08:30:00"
    assert active[0] == "3" and active[9] == "FB433810" and active[11] == "active"
    assert active[3].endswith("(now)") and active[6:8] == ["", ""]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_full_history_downloads_through_the_configurator(site: Site, fmt: str) -> None:
    with evse_running(site) as evse:
        seed(evse)
        answer = send(site.logged_in("installer"), "GET", f"/transactions/export.{fmt}")
    assert answer.status == 200
    disposition = answer.headers["Content-Disposition"]
    assert re.fullmatch(
        rf'attachment; filename="transactions_\d{{8}}T\d{{6}}Z\.{fmt}"', disposition
    )
    assert answer.headers["Content-Security-Policy"]  # set before the stream started
    text = answer.body.decode("utf-8")
    if fmt == "json":
        rows = json.loads(text)
        assert sorted(row["TX No"] for row in rows) == [1, 2, 3]
        assert all(tuple(row) == LABELS for row in rows)
        assert {row["RFID Tag"] for row in rows} == {"TAG0000", "TAG0001", "FB433810"}
    else:
        table = list(csv.reader(io.StringIO(text, newline="")))
        assert tuple(table[0]) == LABELS and len(table) == 4


# ----- monitor ------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["installer", "ev"])
def test_with_the_evse_down_the_monitor_says_what_is_not_available(site: Site, role: str) -> None:
    agent = site.logged_in(role)
    page = agent.get("/monitor").text
    assert "Websocket log not available: the OCPP client is not installed yet." in page
    assert "Error log not available: the charging controller does not answer." in page
    assert '<script src="/static/monitor.js" defer></script>' in page
    data = json.loads(agent.get("/monitor/errors.json").text)
    assert data == {
        "available": False,
        "lines": [],
        "message": "not available: the charging controller does not answer",
    }
    refused = agent.get("/monitor/error-log.txt")
    assert (refused.status, refused.location) == (303, "/monitor?download=unavailable")


def record(site: Site, evse: RunningEvse, *events: tuple[str, dict[str, object]]) -> None:
    """Publish live events through the evse's recorder into its persistent event log."""
    log = evse.context.event_log
    hub = evse.controller.events
    before = len(log)
    task = site.loop.create_task(record_events(hub, log, evse.clock.now))
    for _ in range(POLLS):
        if hub.subscriber_count:
            break
        site.run(asyncio.sleep(0.01))
    for kind, data in events:
        hub.publish(kind, data)
    for _ in range(POLLS):
        if len(log) >= before + len(events):
            break
        site.run(asyncio.sleep(0.01))
    task.cancel()
    site.run(asyncio.sleep(0))


def test_fault_events_read_as_the_manuals_lines_and_refresh_as_json(site: Site) -> None:
    with evse_running(site) as evse:
        record(
            site,
            evse,
            ("fault", GROUND_FAILURE),
            ("fault", {**GROUND_FAILURE, "raised": False}),
            ("transaction", {"what": "started", "transaction_id": 42}),
        )
        evse.context.event_log.append(
            "webapp",
            EventLevel.WARNING,
            "lockout",
            "login locked for installer",
            now=datetime.now(UTC),
        )
        agent = site.logged_in("ev")
        page = agent.get("/monitor").text
        data = json.loads(agent.get("/monitor/errors.json").text)
        download = send(agent, "GET", "/monitor/error-log.txt")
    line = r"\[\d\d/\d\d/\d\d, \d\d:\d\d:\d\d\] "
    faulted = "EVSE 1: FAULTED. OCPP error code: GroundFailure. Vendor error code: RCM_DC_6MA."
    assert faulted in page
    assert data["available"] is True
    newest, cleared, raised = data["lines"]  # the transaction is not an error
    assert re.fullmatch(line + "webapp: login locked for installer", newest)
    assert re.fullmatch(line + re.escape(faulted), raised)
    assert "EVSE 1: NOT FAULTED." in cleared
    assert download.status == 200
    assert download.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.body.decode().splitlines() == [raised, cleared, newest]  # oldest first
