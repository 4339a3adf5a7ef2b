-- Rate limits at the edge (issue 7): a token bucket for the whole project
-- and one per client address, in requests a second and a burst. A zero
-- rate is no limit. Edges receive them with the route table.
ALTER TABLE projects
    ADD COLUMN rate_limit_rps          double precision NOT NULL DEFAULT 0 CHECK (rate_limit_rps BETWEEN 0 AND 1000000),
    ADD COLUMN rate_limit_burst        integer NOT NULL DEFAULT 0 CHECK (rate_limit_burst BETWEEN 0 AND 10000000),
    ADD COLUMN client_rate_limit_rps   double precision NOT NULL DEFAULT 0 CHECK (client_rate_limit_rps BETWEEN 0 AND 1000000),
    ADD COLUMN client_rate_limit_burst integer NOT NULL DEFAULT 0 CHECK (client_rate_limit_burst BETWEEN 0 AND 10000000);
