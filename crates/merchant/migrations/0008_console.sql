-- The console's staff: named accounts, each with its role and an argon2id hash of its password
-- (a PHC string), never the password.
CREATE TABLE staff (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'owner')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Wrong passwords in a row, and until when (Unix ms) the account is locked after too many:
    -- kept here, so every server on the database refuses the same.
    failed_sign_ins BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT
);
-- Console sessions, kept here so they work on every server on the database. Only a hash of
-- each session's id (SHA-256, hex) is kept: the id itself is in the staff's cookie alone.
CREATE TABLE staff_sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_name   TEXT NOT NULL REFERENCES staff (name) ON DELETE CASCADE,
    -- Every form of the session carries it; a POST without it is refused.
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_name);
-- Every action taken in the console or with `checkout-server staff`: who, when, what, on what,
-- the state before and after, and the note given. Only ever added to.
CREATE TABLE audit_log (
    id      TEXT PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    -- The client's address, for what came through the console.
    client  TEXT,
    action  TEXT NOT NULL,
    subject TEXT,
    before_state TEXT,
    after_state  TEXT,
    note    TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);
