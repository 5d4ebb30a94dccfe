"""The power-cut test's reader and rules: sessions read from a stopped disk's data partition (its
journal and SQLite's WAL applied), and every way a cut could break a session is named."""

from __future__ import annotations

import dataclasses
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.persistence.database import Database
from runtime.persistence.transaction_records import StopReason
from runtime.persistence.transactions import TransactionStore
from tests.image.stored_sessions import (
    StoredSession,
    StoredSessions,
    broken_rules,
    read_stopped_disk,
)

START = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
DATA_START_SECTOR = 2048
DATA_SIZE = "16M"


def disk_with_data_partition(files: Path, disk: Path) -> None:
    """A GPT disk whose partition named `data` is an ext4 made from the folder `files`."""
    partition = disk.with_suffix(".ext4")
    subprocess.run(
        ["mkfs.ext4", "-q", "-d", str(files), str(partition), DATA_SIZE], check=True
    )  # fmt: skip
    size = partition.stat().st_size
    with disk.open("wb") as raw:
        raw.truncate(DATA_START_SECTOR * 512 + size + 1024 * 1024)
    script = f"label: gpt\nstart={DATA_START_SECTOR}, size={size // 512}, name=data\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=script.encode(), check=True)
    with disk.open("r+b") as raw, partition.open("rb") as ext4:
        raw.seek(DATA_START_SECTOR * 512)
        raw.write(ext4.read())


def test_sessions_are_read_from_a_stopped_disk_with_what_only_the_wal_holds(
    tmp_path: Path,
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    database = Database.open(files / "chargeos.db")
    store = TransactionStore(database)
    ended = store.start("FB433810", 1000, 1, START, random.Random(1))
    store.add_sample(ended.transaction_id, START + timedelta(seconds=2), 1004, 11000, (16, 16, 16))
    store.stop(ended.transaction_id, 1010, StopReason.LOCAL, START + timedelta(seconds=4))
    active = store.start("FB433810", 1010, 1, START + timedelta(seconds=9), random.Random(2))
    store.add_sample(active.transaction_id, START + timedelta(seconds=11), 1013, 11000, (16,) * 3)
    assert (files / "chargeos.db-wal").stat().st_size > 0  # the cut came before a checkpoint
    disk_with_data_partition(files, tmp_path / "disk.img")  # copied while still open
    database.close()

    stored = read_stopped_disk(tmp_path / "disk.img", tmp_path / "scratch")

    assert [(s.number, s.transaction_id, s.status) for s in stored.sessions] == [
        (1, ended.transaction_id, "ended"),
        (2, active.transaction_id, "active"),
    ]
    assert stored.sessions[0].sample_wh == (1004,)
    assert (stored.sessions[0].meter_stop_wh, stored.sessions[0].stop_reason) == (1010, "Local")
    assert stored.sessions[1].recorded_wh == 1013


def test_a_disk_evse_never_ran_on_holds_no_sessions(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "profile.yaml").write_text("{}\n")
    disk_with_data_partition(files, tmp_path / "disk.img")
    assert read_stopped_disk(tmp_path / "disk.img", tmp_path / "scratch") == StoredSessions()


def session(
    number: int, transaction_id: int, *samples: int, stop: int | None = None
) -> StoredSession:
    return StoredSession(
        number=number,
        transaction_id=transaction_id,
        id_tag="FB433810",
        started_at=f"2026-12-03T18:0{number}:00.000000+00:00",
        meter_start_wh=100 * number,
        meter_stop_wh=stop,
        status="active" if stop is None else "ended",
        stop_reason=None if stop is None else "PowerLoss",
        sample_wh=samples,
    )


BEFORE = StoredSessions((session(1, 11, 104, stop=106), session(2, 22, 203)))


def test_a_store_that_kept_everything_and_closed_the_cut_session_breaks_no_rule() -> None:
    after = StoredSessions((session(1, 11, 104, stop=106), session(2, 22, 203, stop=203)))
    assert broken_rules(BEFORE, after, seen_started={11, 22}, sessions_at_most=2) == []


def test_a_lost_session_and_one_seen_started_but_never_stored_are_found() -> None:
    after = StoredSessions((session(1, 11, 104, stop=106),))
    assert broken_rules(BEFORE, after, seen_started={11, 33}) == [
        "transaction 33 was seen started but is not stored",
        "transaction 22 (#2) was lost",
    ]


def test_a_duplicated_session_is_found_by_its_number_and_its_id() -> None:
    copy = dataclasses.replace(BEFORE.sessions[1], number=3)
    after = StoredSessions((*BEFORE.sessions, copy))
    assert broken_rules(BEFORE, after, sessions_at_most=2) == [
        "a transaction id is stored twice: [11, 22, 22]",
        "more than one session active at once: #2, #3",
        "3 sessions stored, but only 2 were started",
        "transaction 22: number changed",
    ]
    gap = StoredSessions((BEFORE.sessions[0], dataclasses.replace(BEFORE.sessions[1], number=3)))
    assert broken_rules(StoredSessions(), gap)[0] == (
        "session numbers are not 1..2 in order: [1, 3]"
    )


def test_energy_going_back_within_a_session_or_across_a_cut_is_found() -> None:
    fell = StoredSessions((session(1, 11, 104, stop=106), session(2, 22, stop=200)))
    assert broken_rules(BEFORE, fell) == [
        "transaction 22: recorded samples (203,) became ()",
        "transaction 22: recorded energy went back from 203 to 200 Wh",
    ]
    within = StoredSessions((session(1, 11, 105, 104, stop=103),))
    assert broken_rules(StoredSessions(), within) == [
        "transaction 11: meter went back: (100, 105, 104)",
        "transaction 11: stopped at 103 Wh below its recorded 105 Wh",
    ]


def test_an_ended_session_rewritten_after_a_cut_is_found() -> None:
    rewritten = StoredSessions((session(1, 11, 104, stop=107), BEFORE.sessions[1]))
    assert broken_rules(BEFORE, rewritten) == ["transaction 11: its end was rewritten"]
