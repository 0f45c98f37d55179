-- Payment links: checkouts the merchant made to be paid on the hosted page `/pay/{id}`, from the
-- console or the admin API. The checkout itself is an ordinary storefront-priced one (its price,
-- description and reference are in `checkouts`); here, what makes it a link: how and by whom it
-- was made, and until when (Unix ms) a shopper may start paying it (NULL: no end).
CREATE TABLE payment_links (
    checkout_id TEXT PRIMARY KEY REFERENCES checkouts (id),
    created_via TEXT NOT NULL CHECK (created_via IN ('console', 'api')),
    -- The member of staff who made it in the console; NULL through the admin API, whose bearer
    -- token names no one. Kept as written: a member of staff removed later still made it.
    staff_name  TEXT,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL
);
-- The console lists links newest first, a page at a time.
CREATE INDEX payment_links_created ON payment_links (created_at, checkout_id);
