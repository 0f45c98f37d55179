-- The gateway's call budget, kept in the database: the gateway counts calls per API key,
-- whichever server makes them, and a restart forgets none (nor a pause the gateway asked for).
CREATE TABLE gateway_budget (
    api_key      TEXT PRIMARY KEY,
    -- The times (Unix ms) of the calls sent in the last minute, a JSON array.
    sent         TEXT NOT NULL,
    paused_until BIGINT NOT NULL
);
