"""The database file: WAL and FULL sync, migrations by user_version, integrity check on open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from runtime.persistence.database import Database, split_statements
from runtime.persistence.errors import (
    DatabaseClosed,
    DatabaseCorrupt,
    DatabaseTooNew,
    MigrationFailed,
    PersistenceError,
)
from runtime.persistence.schema import BREAKS_OLDER_READERS, MIGRATIONS

CREATE_A = "CREATE TABLE a (x INTEGER NOT NULL);"
CREATE_B = "CREATE TABLE b (y TEXT); INSERT INTO b VALUES ('semi;colon');"
BROKEN = "CREATE TABLE c (z INTEGER); INSERT INTO no_such_table VALUES (1);"
THREADS = 4
WRITES_PER_THREAD = 50


def tables(db: Database) -> set[str]:
    with db.read() as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in rows}


def test_a_new_file_gets_every_table_and_the_latest_schema_version(db: Database) -> None:
    assert db.user_version == len(MIGRATIONS)
    assert {"transactions", "meter_samples", "auth_cache", "events"} <= tables(db)


def test_the_file_is_opened_in_wal_mode_with_full_sync_and_foreign_keys(db: Database) -> None:
    with db.read() as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_reopening_keeps_the_data_and_applies_no_migration_twice(db_path: Path) -> None:
    with Database.open(db_path, migrations=[CREATE_A]) as db, db.write() as connection:
        connection.execute("INSERT INTO a VALUES (7)")
    with Database.open(db_path, migrations=[CREATE_A]) as db:
        assert db.user_version == 1
        with db.read() as connection:
            assert connection.execute("SELECT x FROM a").fetchall() == [(7,)]


def test_new_migrations_apply_in_order_when_an_older_file_is_opened(db_path: Path) -> None:
    Database.open(db_path, migrations=[CREATE_A]).close()
    with Database.open(db_path, migrations=[CREATE_A, CREATE_B]) as db:
        assert db.user_version == 2
        with db.read() as connection:
            assert connection.execute("SELECT y FROM b").fetchall() == [("semi;colon",)]


def test_a_failing_migration_leaves_the_database_at_the_previous_version(db_path: Path) -> None:
    with pytest.raises(MigrationFailed) as failure:
        Database.open(db_path, migrations=[CREATE_A, BROKEN])
    assert str(db_path) in str(failure.value)
    assert "version 2" in str(failure.value)
    with Database.open(db_path, migrations=[CREATE_A]) as db:
        assert db.user_version == 1
        assert "c" not in tables(db)


def test_an_update_rolled_back_leaves_a_database_the_old_software_still_uses(
    db_path: Path,
) -> None:
    Database.open(db_path, migrations=[CREATE_A, CREATE_B]).close()  # the update's additions
    with Database.open(db_path, migrations=[CREATE_A]) as db:  # the old system after rollback
        assert db.user_version == 2  # nothing undone, nothing migrated
        with db.write() as connection:
            connection.execute("INSERT INTO a (x) VALUES (7)")
    with Database.open(db_path, migrations=[CREATE_A, CREATE_B]) as db, db.read() as connection:
        assert connection.execute("SELECT x FROM a").fetchall() == [(7,)]


def test_a_database_a_newer_migration_closed_to_older_software_is_refused(db_path: Path) -> None:
    breaking = f"{BREAKS_OLDER_READERS}\nCREATE TABLE b (y TEXT NOT NULL);"
    Database.open(db_path, migrations=[CREATE_A, breaking]).close()
    with pytest.raises(DatabaseTooNew) as refused:
        Database.open(db_path, migrations=[CREATE_A])
    assert str(db_path) in str(refused.value)
    assert refused.value.found == 2
    assert refused.value.known == 1


def test_a_file_that_is_not_a_database_is_reported_corrupt_naming_it(db_path: Path) -> None:
    db_path.write_bytes(b"this is not SQLite, it is a profile\n" * 200)
    with pytest.raises(DatabaseCorrupt) as corrupt:
        Database.open(db_path)
    message = str(corrupt.value)
    assert message.startswith(f"{db_path}: ")
    assert "move the file aside" in message


def test_damaged_pages_fail_the_integrity_check_on_open(db_path: Path) -> None:
    with Database.open(db_path, migrations=[CREATE_A]) as db, db.write() as connection:
        connection.executemany("INSERT INTO a VALUES (?)", ((i,) for i in range(5000)))
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = int(raw.execute("PRAGMA page_size").fetchone()[0])
    raw.close()
    data = bytearray(db_path.read_bytes())
    # Page 3 is a leaf of table a: scribble over its cell pointers and cells.
    data[2 * page_size + 8 : 3 * page_size] = b"\xa5" * (page_size - 8)
    db_path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt) as corrupt:
        Database.open(db_path, migrations=[CREATE_A])
    assert str(db_path) in str(corrupt.value)


def test_a_missing_data_directory_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "chargeos.db"
    with pytest.raises(PersistenceError, match="no-such-dir"):
        Database.open(path)


def test_a_failed_write_changes_nothing(db_path: Path) -> None:
    with Database.open(db_path, migrations=[CREATE_A]) as db:
        with pytest.raises(RuntimeError), db.write() as connection:
            connection.execute("INSERT INTO a VALUES (1)")
            raise RuntimeError("power board went away")
        with db.read() as connection:
            assert connection.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0


def test_a_nested_write_joins_the_outer_transaction(db_path: Path) -> None:
    with Database.open(db_path, migrations=[CREATE_A]) as db:
        with pytest.raises(RuntimeError), db.write() as outer:
            outer.execute("INSERT INTO a VALUES (1)")
            with db.write() as inner:
                inner.execute("INSERT INTO a VALUES (2)")
            raise RuntimeError("outer fails after the inner block")
        with db.read() as connection:
            assert connection.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0


def test_threads_can_share_one_database(db_path: Path) -> None:
    with Database.open(db_path, migrations=[CREATE_A]) as db:

        def writer(offset: int) -> None:
            for i in range(WRITES_PER_THREAD):
                with db.write() as connection:
                    connection.execute("INSERT INTO a VALUES (?)", (offset + i,))

        workers = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with db.read() as connection:
            count = connection.execute("SELECT COUNT(DISTINCT x) FROM a").fetchone()[0]
        assert count == THREADS * WRITES_PER_THREAD


def test_a_write_lock_held_too_long_by_another_connection_names_the_file(db_path: Path) -> None:
    with Database.open(db_path) as holder, Database.open(db_path, busy_timeout_s=0.05) as other:
        with (
            holder.write(),
            pytest.raises(PersistenceError, match="write lock") as busy,
            other.write(),
        ):
            pass
        assert str(db_path) in str(busy.value)
        with other.write() as connection:  # free again once the holder committed
            connection.execute("SELECT 1")


def test_using_a_closed_database_says_to_open_it_again(db_path: Path) -> None:
    db = Database.open(db_path)
    db.close()
    db.close()
    with pytest.raises(DatabaseClosed, match=r"Database\.open\(\)"), db.read():
        pass


def test_migration_scripts_split_into_whole_statements() -> None:
    script = """
        CREATE TABLE t (v TEXT DEFAULT ';');  -- a comment; with a semicolon
        CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
            UPDATE t SET v = 'x;y' WHERE rowid = new.rowid;
        END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert "CREATE TRIGGER" in statements[1]
    assert statements[1].rstrip().endswith("END;")


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE t (v TEXT); CREATE TABLE u (w TEXT)",
        "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN UPDATE t SET v = 1;",
        "INSERT INTO t VALUES ('unterminated;",
    ],
)
def test_an_unfinished_migration_statement_is_refused(script: str) -> None:
    with pytest.raises(ValueError, match="incomplete"):
        split_statements(script)


def test_a_trailing_comment_after_the_last_statement_is_fine() -> None:
    assert split_statements("CREATE TABLE t (v TEXT);  -- done\n") == ["CREATE TABLE t (v TEXT);"]
