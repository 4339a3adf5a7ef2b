-- Certificate state per name for `zeitwork domains list` (issue 7, TLS):
-- when the served certificate expires, how many issuances failed in a row
-- and when the edges may try again. The operator sets next_attempt_at
-- from the shared failure count, so every edge backs off together
-- instead of each ordering once per interval.
ALTER TABLE edge_cert_status
    ADD COLUMN expires_at      timestamptz,
    ADD COLUMN failures        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz;
