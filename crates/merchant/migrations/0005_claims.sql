-- "I already paid": when a shopper attached a chain payment the gateway could not match (the
-- server checked it on chain first). A checkout with such a payment is settled by the chain.
ALTER TABLE chain_payments ADD COLUMN claimed_at BIGINT;
