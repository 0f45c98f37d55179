-- Reports that named one of our order numbers but were about another order (another merchant's
-- at the same gateway, or another chain or token): kept for the merchant, never applied.
CREATE TABLE refused_reports (
    -- The report's dedupe key: the same report again is kept once.
    report_key    TEXT PRIMARY KEY,
    received_at   BIGINT NOT NULL,
    source        TEXT NOT NULL,
    order_no      TEXT,
    plat_order_no TEXT,
    status        TEXT NOT NULL,
    amount        TEXT,
    tx_hash       TEXT,
    reason        TEXT NOT NULL
);
-- Claims ("I already paid") made without the sender's signature, for the merchant to decide:
-- every claimant of a payment, kept apart from the payment itself, which the watcher still
-- matches by its rules (a claim must never stand in the way of the order the money is for).
CREATE TABLE claims_under_review (
    chain_id     BIGINT NOT NULL,
    tx_hash      TEXT NOT NULL,
    log_index    BIGINT NOT NULL,
    checkout_id  TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index, checkout_id)
);
-- Until when one server is asking the gateway for this checkout's order (Unix ms): another
-- server waits for it instead of asking too, holding no connection meanwhile.
ALTER TABLE checkouts ADD COLUMN asking_until BIGINT;
