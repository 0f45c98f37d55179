-- What the gateway said of each order, merged over its reports (docs/blockatm-api.md: its
-- documented status, amount and transaction), and where chain and gateway disagree.
ALTER TABLE checkouts ADD COLUMN gateway_status TEXT;
ALTER TABLE checkouts ADD COLUMN gateway_paid_atomic TEXT NOT NULL DEFAULT '0';
ALTER TABLE checkouts ADD COLUMN gateway_tx_hashes TEXT NOT NULL DEFAULT '[]';
-- When the gateway first said the order expired: it may run ahead of the expiry it gave.
ALTER TABLE checkouts ADD COLUMN gateway_expired_at BIGINT;
-- When the gateway first said the order was paid.
ALTER TABLE checkouts ADD COLUMN gateway_success_at BIGINT;
ALTER TABLE checkouts ADD COLUMN disagreement TEXT;

-- Token payments the chain shows into receiving addresses: attached to the checkout they pay,
-- or kept unmatched (checkout_id NULL) for the merchant, never dropped. One row per log.
CREATE TABLE chain_payments (
    chain_id     BIGINT NOT NULL,
    tx_hash      TEXT NOT NULL,
    log_index    BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   TEXT NOT NULL,
    from_address TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    token        TEXT NOT NULL,
    amount       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('transfer', 'deposit')),
    named_order  TEXT,
    mined_at     BIGINT NOT NULL,
    checkout_id  TEXT REFERENCES checkouts (id),
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX chain_payments_checkout ON chain_payments (checkout_id);

-- How far each watched chain has been read, with the latest block hashes (reorg checks).
CREATE TABLE chain_cursors (
    chain_id BIGINT PRIMARY KEY,
    cursor   TEXT NOT NULL
);
