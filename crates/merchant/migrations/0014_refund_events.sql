-- The fulfillment event `refund.sent` (#28): one per refund, queued once its transfer is seen,
-- delivered to the merchant's fulfillment URL as the orders' events are, until acknowledged.
-- Apart from `fulfillment_events`, which holds one event per checkout, and a refund of a
-- payment that paid no order has no checkout.
CREATE TABLE refund_events (
    id              TEXT PRIMARY KEY,
    refund_id       TEXT NOT NULL UNIQUE REFERENCES refunds (id),
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX refund_events_due ON refund_events (delivered_at, next_attempt_at);
