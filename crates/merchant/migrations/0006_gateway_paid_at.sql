-- When the gateway's reported amount last grew: with the chain watched, it stands in for a
-- watcher a block behind, for a while, not for ever (a reorg may take the payment back).
ALTER TABLE checkouts ADD COLUMN gateway_paid_at BIGINT;
