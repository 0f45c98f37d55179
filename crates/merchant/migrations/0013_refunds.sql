-- Refunds (#28): money given back, always against one chain payment, its source (attached to an
-- order or unmatched), on that payment's chain and in its token. Amounts in atomic units as
-- decimal digits, as every amount (see 0001). No foreign key to the source: a reorg forgets the
-- payment's row (read again, it comes back), and the refund must not stop that nor vanish.
CREATE TABLE refunds (
    id               TEXT PRIMARY KEY,
    -- The checkout whose shopper asked, or the merchant started it from; NULL for a payment
    -- that matched no order, refunded on the merchant's own initiative.
    checkout_id      TEXT,
    chain_id         BIGINT NOT NULL,
    source_tx        TEXT NOT NULL,
    source_log_index BIGINT NOT NULL,
    token            TEXT NOT NULL,
    amount_atomic    TEXT NOT NULL,
    destination      TEXT NOT NULL,
    -- The paying wallet's signature, canonical: one signature is one request, replayed or not.
    signature        TEXT UNIQUE,
    email            TEXT,
    state            TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'sent', 'refused')),
    -- Why the merchant refused it, said to the shopper.
    reason           TEXT,
    requested_at     BIGINT NOT NULL,
    -- The member of staff who started it (approved from the first); NULL for a shopper's.
    requested_by     TEXT,
    -- When and by whom it was approved, or refused.
    approved_at      BIGINT,
    approved_by      TEXT,
    -- The transfer that paid it: each transfer pays one refund at most.
    sent_tx          TEXT,
    sent_log_index   BIGINT,
    sent_block       BIGINT,
    sent_at          BIGINT,
    UNIQUE (chain_id, sent_tx, sent_log_index)
);
-- A payment's refunds (what is left to give back), a checkout's, and the console's pages by state.
CREATE INDEX refunds_source ON refunds (chain_id, source_tx, source_log_index);
CREATE INDEX refunds_checkout ON refunds (checkout_id, requested_at);
CREATE INDEX refunds_state ON refunds (state, requested_at, id);
