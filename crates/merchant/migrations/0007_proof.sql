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
-- A claim ("I already paid") made without the sender's signature: the payment stays unmatched,
-- claimed for this checkout, until the merchant decides.
ALTER TABLE chain_payments ADD COLUMN claimed_for TEXT;
ALTER TABLE chain_payments ADD COLUMN claim_requested_at BIGINT;
-- Until when one server is asking the gateway for this checkout's order (Unix ms): another
-- server waits for it instead of asking too, holding no connection meanwhile.
ALTER TABLE checkouts ADD COLUMN asking_until BIGINT;
