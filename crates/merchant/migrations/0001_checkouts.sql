-- A checkout: what a shopper is asked to pay, and what the gateway has seen of it.
-- Amounts are TEXT: decimal digits of atomic units (an 18-decimal amount does not fit SQLite's
-- 64-bit integers), never REAL.
CREATE TABLE checkouts (
    id                     TEXT PRIMARY KEY,
    created_by             TEXT NOT NULL CHECK (created_by IN ('widget', 'storefront')),
    idempotency_key        TEXT UNIQUE,
    item_id                TEXT,
    description            TEXT NOT NULL,
    price_amount           TEXT NOT NULL,
    price_currency         TEXT NOT NULL,
    reference              TEXT,
    -- Set once a network and token are chosen and the gateway order exists.
    chain_id               BIGINT,
    symbol                 TEXT,
    token_contract         TEXT,
    decimals               BIGINT,
    amount_atomic          TEXT,
    gateway_order_no       TEXT UNIQUE,
    plat_order_no          TEXT,
    pay_amount_atomic      TEXT,
    to_address             TEXT,
    cashier_url            TEXT,
    state                  TEXT NOT NULL,
    paid_atomic            TEXT NOT NULL DEFAULT '0',
    remaining_atomic       TEXT,
    overpaid_atomic        TEXT NOT NULL DEFAULT '0',
    confirmations          BIGINT,
    required_confirmations BIGINT,
    tx_hashes              TEXT NOT NULL DEFAULT '[]',
    -- The gateway's time of the latest state applied: older reports are stale.
    gateway_update_time    BIGINT NOT NULL DEFAULT 0,
    created_at             BIGINT NOT NULL,
    expires_at             BIGINT,
    updated_at             BIGINT NOT NULL,
    -- Bumped on every change: the status view's ETag.
    version                BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX checkouts_open ON checkouts (state) WHERE state IN ('waiting', 'partially_paid', 'confirming', 'expired');

-- Webhook events applied, so a retried or replayed event is applied once.
CREATE TABLE webhook_events (
    event_id    TEXT PRIMARY KEY,
    order_no    TEXT NOT NULL,
    state       TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- The merchant's own fulfillment notifications: one per paid checkout, retried until acknowledged.
CREATE TABLE fulfillment_events (
    id              TEXT PRIMARY KEY,
    checkout_id     TEXT NOT NULL UNIQUE REFERENCES checkouts (id),
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT
);
