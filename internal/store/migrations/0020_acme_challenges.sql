-- ACME DNS-01 challenges for the apps zone (issue 8, GeoDNS): the TXT
-- values edges present so that an ACME CA can check them under
-- _acme-challenge.<apps domain>, and the DNS servers (zeitwork dns) answer
-- with. Values are public once presented (anyone can query them), so they
-- are stored in the clear. A value an edge never cleaned up expires.
CREATE TABLE acme_challenges (
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    value      text NOT NULL CHECK (length(value) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (name, value)
);
