-- The chain's head block at a refund's approval, as its watcher had read it (#28): the refund's
-- transfer is one mined in a later block. Block numbers are the chain's own count, where a
-- block's time is a node's clock, a second or more off the server's. NULL for a refund approved
-- before any watcher read its chain (and before this column): its transfer is then judged by
-- the block's time.
ALTER TABLE refunds ADD COLUMN approved_block BIGINT;
