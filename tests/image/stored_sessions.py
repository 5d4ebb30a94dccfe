"""The charging sessions a stopped disk holds, and the rules they keep across power cuts.

The data partition is copied out of the disk (a raw image or a qcow2 overlay), its ext4 journal
replayed on the copy as the kernel would at the next mount, and the database with its WAL read
with SQLite: exactly what survived the cut, before the next boot's recovery touches it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_PARTITION = "data"  # its GPT name (image/boards/*/board.yaml)
DATABASE = "chargeos.db"  # at the top of the data partition (/data/chargeos.db)
QCOW2_MAGIC = b"QFI\xfb"
COPY_CHUNK = 4 << 20
E2FSCK_CORRECTED = 1  # e2fsck's exit status: "errors corrected" (a replayed journal counts)


@dataclass(frozen=True)
class StoredSession:
    """One row of the transactions table and the energies of its meter samples, in order."""

    number: int
    transaction_id: int
    id_tag: str
    started_at: str
    meter_start_wh: int
    meter_stop_wh: int | None
    status: str
    stop_reason: str | None
    sample_wh: tuple[int, ...] = ()

    @property
    def recorded_wh(self) -> int:
        """The highest meter value recorded for it: its stop, a sample or its start."""
        return max((self.meter_start_wh, *self.sample_wh, self.meter_stop_wh or 0))


@dataclass(frozen=True)
class StoredSessions:
    """Every session in the store, by number."""

    sessions: tuple[StoredSession, ...] = field(default_factory=tuple)

    def by_id(self) -> dict[int, StoredSession]:
        """The sessions by their local transaction id."""
        return {session.transaction_id: session for session in self.sessions}


def read_database(path: Path) -> StoredSessions:
    """The sessions in a ChargeOS database file (its -wal beside it is applied)."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT number, transaction_id, id_tag, started_at, meter_start_wh, meter_stop_wh,"
            " status, stop_reason FROM transactions ORDER BY number"
        ).fetchall()
        samples: dict[int, list[int]] = {}
        for transaction_id, energy_wh in connection.execute(
            "SELECT transaction_id, energy_wh FROM meter_samples ORDER BY id"
        ):
            samples.setdefault(transaction_id, []).append(energy_wh)
    finally:
        connection.close()
    return StoredSessions(tuple(_session(row, samples) for row in rows))


def _session(row: tuple[Any, ...], samples: dict[int, list[int]]) -> StoredSession:
    number, transaction_id, id_tag, started_at, start_wh, stop_wh, status, stop_reason = row
    return StoredSession(
        number=number,
        transaction_id=transaction_id,
        id_tag=id_tag,
        started_at=started_at,
        meter_start_wh=start_wh,
        meter_stop_wh=stop_wh,
        status=status,
        stop_reason=stop_reason,
        sample_wh=tuple(samples.get(transaction_id, ())),
    )


def raw_disk(disk: Path, scratch: Path) -> Path:
    """`disk` itself when raw, else a raw copy of the qcow2 overlay in `scratch`."""
    with disk.open("rb") as head:
        if head.read(len(QCOW2_MAGIC)) != QCOW2_MAGIC:
            return disk
    raw = scratch / "disk.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(raw)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return raw


def copy_data_partition(disk: Path, target: Path) -> None:
    """Copy the partition named `data` out of the raw disk image `disk`."""
    listed = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, check=True)
    table = json.loads(listed.stdout)["partitiontable"]
    (partition,) = (p for p in table["partitions"] if p.get("name") == DATA_PARTITION)
    sector = int(table.get("sectorsize", 512))
    left = int(partition["size"]) * sector
    with disk.open("rb") as source, target.open("wb") as copy:
        source.seek(int(partition["start"]) * sector)
        while left > 0:
            chunk = source.read(min(COPY_CHUNK, left))
            if not chunk:
                raise AssertionError(f"{disk}: ends inside its data partition")
            copy.write(chunk)
            left -= len(chunk)


def read_stopped_disk(disk: Path, scratch: Path) -> StoredSessions:
    """The sessions on the data partition of a stopped guest's disk (scratch: a work folder)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    partition = scratch / "data.ext4"
    copy_data_partition(raw_disk(disk, scratch), partition)
    checked = subprocess.run(
        ["e2fsck", "-f", "-y", str(partition)], capture_output=True, text=True, timeout=300
    )
    if checked.returncode > E2FSCK_CORRECTED:
        raise AssertionError(f"e2fsck of the data partition: {checked.stdout}{checked.stderr}")
    for name in (DATABASE, f"{DATABASE}-wal"):  # debugfs writes nothing for a missing file
        subprocess.run(
            ["debugfs", "-R", f"dump /{name} {scratch / name}", str(partition)],
            capture_output=True, check=True, timeout=300,
        )  # fmt: skip
    if not (scratch / DATABASE).exists():
        return StoredSessions()  # nothing has started evse on this disk yet
    return read_database(scratch / DATABASE)


def broken_rules(
    before: StoredSessions,
    after: StoredSessions,
    seen_started: Collection[int] = (),
    sessions_at_most: int | None = None,
) -> list[str]:
    """What is wrong with `after`, the store following a cut, against `before` (the store the
    cut interrupted had this much) and the transactions seen started before the cut."""
    problems = _one_row_each(after.sessions)
    if sessions_at_most is not None and len(after.sessions) > sessions_at_most:
        problems.append(
            f"{len(after.sessions)} sessions stored, but only {sessions_at_most} were started"
        )
    now = after.by_id()
    for transaction_id in seen_started:
        if transaction_id not in now:
            problems.append(f"transaction {transaction_id} was seen started but is not stored")
    for old in before.sessions:
        new = now.get(old.transaction_id)
        if new is None:
            problems.append(f"transaction {old.transaction_id} (#{old.number}) was lost")
            continue
        problems += _kept(old, new)
    for session in after.sessions:
        problems += _energy_never_falls(session)
    return problems


def _one_row_each(sessions: Sequence[StoredSession]) -> list[str]:
    problems = []
    numbers = [session.number for session in sessions]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"session numbers are not 1..{len(numbers)} in order: {numbers}")
    ids = [session.transaction_id for session in sessions]
    if len(set(ids)) != len(ids):
        problems.append(f"a transaction id is stored twice: {sorted(ids)}")
    active = [session.number for session in sessions if session.status == "active"]
    if len(active) > 1:
        problems.append(f"more than one session active at once: #{', #'.join(map(str, active))}")
    return problems


def _kept(old: StoredSession, new: StoredSession) -> list[str]:
    problems = []
    same = ("number", "id_tag", "started_at", "meter_start_wh")
    changed = [name for name in same if getattr(old, name) != getattr(new, name)]
    if changed:
        problems.append(f"transaction {old.transaction_id}: {', '.join(changed)} changed")
    if new.sample_wh[: len(old.sample_wh)] != old.sample_wh:
        problems.append(
            f"transaction {old.transaction_id}: recorded samples {old.sample_wh} became "
            f"{new.sample_wh}"
        )
    if new.recorded_wh < old.recorded_wh:
        problems.append(
            f"transaction {old.transaction_id}: recorded energy went back from "
            f"{old.recorded_wh} to {new.recorded_wh} Wh"
        )
    if old.status == "ended" and (new.status, new.meter_stop_wh, new.stop_reason) != (
        old.status,
        old.meter_stop_wh,
        old.stop_reason,
    ):
        problems.append(f"transaction {old.transaction_id}: its end was rewritten")
    return problems


def _energy_never_falls(session: StoredSession) -> list[str]:
    problems = []
    values = (session.meter_start_wh, *session.sample_wh)
    if any(later < earlier for earlier, later in itertools.pairwise(values)):
        problems.append(f"transaction {session.transaction_id}: meter went back: {values}")
    if session.meter_stop_wh is not None and session.meter_stop_wh < max(values):
        problems.append(
            f"transaction {session.transaction_id}: stopped at {session.meter_stop_wh} Wh "
            f"below its recorded {max(values)} Wh"
        )
    return problems
