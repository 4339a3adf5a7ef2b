-- Certificate storage for the edges (issue 7, TLS): certmagic's keys
-- (certificates, private keys, ACME accounts, challenge tokens) as sealed
-- values, so that every edge shares them and none holds database
-- credentials. Values are sealed with the operator's key (internal/seal),
-- bound to their key, so a copy of the database reveals no private key.
CREATE TABLE edge_certs (
    key         text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 1024),
    sealed      bytea NOT NULL,
    size        bigint NOT NULL,
    modified_at timestamptz NOT NULL DEFAULT now()
);

-- Issuance locks (certmagic's Lock/Unlock): one holder per name until it
-- unlocks or its lease expires, so a crashed edge does not block a name
-- for ever. The holder refreshes the lease while it works.
CREATE TABLE edge_cert_locks (
    name       text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 1024),
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The last issuance outcome per name, for operators and `domains list`:
-- the last error and when, cleared by a later success.
CREATE TABLE edge_cert_status (
    name          text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
    last_error    text NOT NULL DEFAULT '',
    last_error_at timestamptz,
    issued_at     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
