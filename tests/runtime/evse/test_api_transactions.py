"""Transaction history and the event log through the local API, exports streamed whole."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runtime.evse.api_models import ExportFormat
from runtime.evse.client import EvseApiError
from runtime.persistence.event_log import EventLevel
from runtime.persistence.transaction_export import LABELS
from runtime.persistence.transactions import StopReason, TransactionStore
from tests.runtime.evse.api_harness import RunningEvse, run, running_evse

HISTORY_START = datetime(2022, 8, 1, 6, 0, tzinfo=UTC)
LONG_HISTORY = 600  # rows: both exports are larger than one 64 KiB chunk
STAMPED_NAME = r"^transactions_\d{8}T\d{6}Z\.{fmt}$"


def seed_history(store: TransactionStore, count: int) -> None:
    """`count` ended transactions, one per hour, 11.3 kWh in 30 minutes each."""
    rng = random.Random(7)
    for index in range(count):
        started = HISTORY_START + timedelta(hours=index)
        tx = store.start(f"TAG{index:04d}", 1000 + index * 20_000, 1, started, rng)
        store.stop(
            tx.transaction_id,
            1000 + index * 20_000 + 11_300,
            StopReason.LOCAL if index % 2 else StopReason.EV_DISCONNECTED,
            started + timedelta(minutes=30),
        )


async def seeded(evse: RunningEvse, count: int) -> None:
    await asyncio.to_thread(seed_history, evse.context.transactions, count)


def reference_export(evse: RunningEvse, fmt: str) -> str:
    """What TransactionStore itself writes (ended rows do not depend on `now`)."""
    stream = io.StringIO(newline="")
    tz = ZoneInfo(evse.controller.profile.system.timezone)
    store = evse.context.transactions
    writer = store.export_json if fmt == "json" else store.export_csv
    writer(stream, datetime.now(UTC), tz)
    return stream.getvalue()


def test_recent_transactions_come_newest_first_with_the_manuals_columns(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await seeded(evse, 3)
            rows = await evse.client.transactions(limit=2)
            assert [row.number for row in rows] == [3, 2]
            newest = rows[0]
            assert newest.id_tag == "TAG0002"
            assert newest.started_at == HISTORY_START + timedelta(hours=2)
            assert newest.ended_at == newest.started_at + timedelta(minutes=30)
            assert newest.duration_s == 1800
            assert newest.meter_start_kwh == 41.0
            assert newest.meter_stop_kwh == 52.3
            assert newest.energy_used_kwh == 11.3
            assert newest.average_power_kw == 22.6
            assert (newest.status, newest.stop_reason, newest.evse_id) == (
                "ended",
                "EVDisconnected",
                1,
            )
            assert (await evse.client.transaction(newest.transaction_id)) == newest
            assert len(await evse.client.transactions()) == 3

    run(scenario())


def test_an_unknown_transaction_is_not_found(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            with pytest.raises(EvseApiError, match="424242") as refused:
                await evse.client.transaction(424242)
            assert refused.value.status == 404

    run(scenario())


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_full_history_downloads_whole_under_a_timestamped_name(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await seeded(evse, LONG_HISTORY)
            async with evse.client.export_transactions(fmt) as export:
                assert export.content_type == {"json": "application/json", "csv": "text/csv"}[fmt]
                assert export.response.charset == "utf-8"
                assert export.response.headers["Content-Disposition"].startswith("attachment;")
                assert re.match(STAMPED_NAME.replace("{fmt}", fmt), export.filename)
                body = b"".join([chunk async for chunk in export.chunks()]).decode("utf-8")
            assert len(body) > 64 * 1024
            assert body == reference_export(evse, fmt)
            if fmt == "json":
                rows = json.loads(body)
                assert len(rows) == LONG_HISTORY
                assert tuple(rows[0]) == LABELS
                assert rows[0]["Time Start"] == "2022-08-01T08:00:00+02:00"  # Europe/Amsterdam
                assert rows[0]["Energy Used [kWh]"] == 11.3
            else:
                table = list(csv.reader(io.StringIO(body, newline="")))
                assert tuple(table[0]) == LABELS
                assert len(table) == LONG_HISTORY + 1
                assert table[1][LABELS.index("Energy Used [kWh]")] == "11.300"

    run(scenario())


def test_an_empty_history_downloads_as_an_empty_list(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            async with evse.client.export_transactions("json") as export:
                body = b"".join([chunk async for chunk in export.chunks()])
            assert json.loads(body) == []

    run(scenario())


def test_the_event_log_lists_the_newest_events_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            log = evse.context.event_log
            for index, source in enumerate(("evse", "webapp", "evse")):
                log.append(
                    source,
                    EventLevel.WARNING,
                    f"code{index}",
                    f"event {index}",
                    now=HISTORY_START + timedelta(minutes=index),
                    data={"index": index},
                )
            events = await evse.client.event_log(limit=2)
            assert [event.code for event in events] == ["code2", "code1"]
            assert events[0].data == {"index": 2}
            assert events[0].level == "warning"
            assert events[0].at == HISTORY_START + timedelta(minutes=2)
            only_evse = await evse.client.event_log(source="evse")
            assert [event.code for event in only_evse] == ["code2", "code0"]

    run(scenario())
