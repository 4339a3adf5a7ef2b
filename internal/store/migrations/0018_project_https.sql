-- HTTPS per project (issue 7): the max-age in seconds of the
-- Strict-Transport-Security header the edge sends on the project's HTTPS
-- responses (0: the edge's default), and whether the versioned URL
-- <id>--<project> is redirected from HTTP to HTTPS like the project URL
-- and custom domains always are. Edges receive both with the route table.
ALTER TABLE projects
    ADD COLUMN hsts_max_age             integer NOT NULL DEFAULT 0 CHECK (hsts_max_age BETWEEN 0 AND 63072000),
    ADD COLUMN https_redirect_versioned boolean NOT NULL DEFAULT true;
