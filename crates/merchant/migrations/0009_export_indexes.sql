-- The console's exports page through a range of time, oldest first, after the last row sent
-- (and the orders list, newest first): an index in that order reads each page of 500 where it
-- starts, instead of scanning and sorting every checkout (or payment) for each one.
CREATE INDEX checkouts_created ON checkouts (created_at, id);
CREATE INDEX chain_payments_mined ON chain_payments (mined_at);
