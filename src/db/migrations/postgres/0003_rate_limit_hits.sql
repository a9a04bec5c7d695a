-- Requests counted per client and clock minute when `rate_limit.shared` counts them for every
-- instance (PostgreSQL only: one SQLite server counts in memory). Past minutes are deleted by
-- the clean-up.
CREATE TABLE rate_limit_hits (
    policy       TEXT NOT NULL,
    client       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (policy, client, window_start)
);
CREATE INDEX rate_limit_hits_by_window ON rate_limit_hits(window_start);
