-- The key this merchant's checkout servers sign receipts with (ECDSA P-256, base64 PKCS#8): made
-- by the first server to start, then shared by every server on the database. Its public half is
-- published at /.well-known/usdt-checkout/receipt-key.
CREATE TABLE receipt_keys (
    id          BIGINT PRIMARY KEY,
    private_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
