"""The database schema as an ordered list of migrations; PRAGMA user_version counts those applied.

Append a new script to change the schema; never edit one that has shipped, because devices in the
field already ran it. Each script runs inside one transaction together with its version bump.

Migrations are additive (new tables, new columns with defaults), so the previous ChargeOS keeps
using the database after an update is rolled back. A migration the previous version must not
live with starts with the line BREAKS_OLDER_READERS: it records its version as the oldest
schema that may still open the file (PRAGMA application_id), and older software then refuses.
"""

from __future__ import annotations

# 1: transactions with meter samples (billing data), authorization cache, event log.
# Money depends on meter_*_wh, so they are INTEGER Wh and CHECKed to really be integers.
SCHEMA_1 = """
CREATE TABLE transactions (
    number              INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id      INTEGER NOT NULL UNIQUE
                        CHECK (typeof(transaction_id) = 'integer'
                               AND transaction_id BETWEEN 1 AND 2147483647),
    csms_transaction_id INTEGER,
    evse_id             INTEGER NOT NULL CHECK (typeof(evse_id) = 'integer' AND evse_id >= 1),
    id_tag              TEXT NOT NULL CHECK (length(id_tag) >= 1),
    started_at          TEXT NOT NULL,
    ended_at            TEXT,
    meter_start_wh      INTEGER NOT NULL
                        CHECK (typeof(meter_start_wh) = 'integer' AND meter_start_wh >= 0),
    meter_stop_wh       INTEGER,
    stop_reason         TEXT CHECK (stop_reason IN (
                            'Local', 'Remote', 'EVDisconnected', 'PowerLoss', 'Reboot',
                            'EmergencyStop', 'HardReset', 'SoftReset', 'UnlockCommand',
                            'DeAuthorized', 'Other')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    CHECK (
        (status = 'active' AND ended_at IS NULL AND meter_stop_wh IS NULL
            AND stop_reason IS NULL)
        OR (status = 'ended' AND ended_at IS NOT NULL AND stop_reason IS NOT NULL
            AND typeof(meter_stop_wh) = 'integer' AND meter_stop_wh >= meter_start_wh)
    )
);
-- At most one active transaction per EVSE, whatever the application does.
CREATE UNIQUE INDEX transactions_one_active_per_evse ON transactions (evse_id)
    WHERE status = 'active';
CREATE INDEX transactions_by_csms_id ON transactions (csms_transaction_id)
    WHERE csms_transaction_id IS NOT NULL;

CREATE TABLE meter_samples (
    id              INTEGER PRIMARY KEY,
    transaction_id  INTEGER NOT NULL REFERENCES transactions (transaction_id),
    at              TEXT NOT NULL,
    energy_wh       INTEGER NOT NULL CHECK (typeof(energy_wh) = 'integer' AND energy_wh >= 0),
    power_w         REAL NOT NULL,
    current_l1_a    REAL NOT NULL,
    current_l2_a    REAL NOT NULL,
    current_l3_a    REAL NOT NULL
);
CREATE INDEX meter_samples_by_transaction ON meter_samples (transaction_id, id);

CREATE TABLE auth_cache (
    id_tag      TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN (
                    'Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
    expires_at  TEXT,
    updated_at  TEXT NOT NULL,
    last_used   INTEGER NOT NULL
);
CREATE INDEX auth_cache_least_recently_used ON auth_cache (last_used);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    source  TEXT NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error', 'critical')),
    code    TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT NOT NULL CHECK (json_valid(data))
);
CREATE INDEX events_by_source ON events (source, id);
"""

# 2: what must outlive a restart of evse: latched faults (a tilt, RCM or welded contactor is not
# forgotten by a crash or a profile save) and the tilt sensor's rest position (one row).
SCHEMA_2 = """
CREATE TABLE latched_faults (
    kind        TEXT PRIMARY KEY CHECK (length(kind) >= 1),
    latch       TEXT NOT NULL CHECK (latch IN ('cleared', 'power_cycle')),
    raised_at   TEXT NOT NULL,
    detail      TEXT NOT NULL
);

CREATE TABLE tilt_calibration (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    x_g             REAL NOT NULL,
    y_g             REAL NOT NULL,
    z_g             REAL NOT NULL,
    calibrated_at   TEXT NOT NULL
);
"""

BREAKS_OLDER_READERS = "-- breaks older readers"
MIGRATIONS: tuple[str, ...] = (SCHEMA_1, SCHEMA_2)
