-- Each attempt to deliver a fulfillment event, with its answer: the outbox row keeps only the
-- latest, and a merchant asking why an order was not fulfilled needs every one. `attempt` is
-- the outbox's count at the time (a resend starts it again), so rows are read by time.
CREATE TABLE fulfillment_attempts (
    event_id    TEXT NOT NULL REFERENCES fulfillment_events (id),
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    -- The receiver's HTTP status, when it answered at all.
    status_code BIGINT,
    -- Why it failed (the status said in words, or the connection's error); none when delivered.
    error       TEXT,
    PRIMARY KEY (event_id, at, attempt)
);
-- Exceptions the staff resolved with a note: each by its key (the kind and what it is about), so
-- a resolved one leaves the queue on every server, and stays readable with who, when and why.
CREATE TABLE exception_resolutions (
    exception_key TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    resolved_by   TEXT NOT NULL,
    resolved_at   BIGINT NOT NULL,
    note          TEXT NOT NULL
);
CREATE INDEX exception_resolutions_at ON exception_resolutions (resolved_at);
-- The exception queue finds the orders waiting at the address an unmatched payment went to.
CREATE INDEX checkouts_to_address ON checkouts (to_address, created_at);
