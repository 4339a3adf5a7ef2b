-- What each healthy instance's VM costs its host, as its node last
-- measured it (issue 11: memory and idle CPU per instance). Kept apart
-- from instances: it is written every few minutes per instance, and an
-- update here must neither wake the change feed nor touch the row that
-- reconcilers lock.
CREATE TABLE instance_usage (
    instance_id  uuid PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    rss_bytes    bigint NOT NULL,
    pss_bytes    bigint NOT NULL,
    uss_bytes    bigint NOT NULL,
    shared_bytes bigint NOT NULL,
    -- Percent of one host core over the node's sampling window; NULL
    -- until the node had two samples.
    cpu_percent  double precision,
    sampled_at   timestamptz NOT NULL
);
