-- Edges' regions (polish): the region an edge enrolled with and last
-- reported (zeitwork edge --region), so that administrators see which
-- edge prefers which region and spot a misspelt one. One row per edge,
-- named by its token's ID; edges enrolled before this have a row once
-- they next poll for routes.
CREATE TABLE edges (
    id          uuid PRIMARY KEY REFERENCES api_tokens (id) ON DELETE CASCADE,
    hostname    text NOT NULL DEFAULT '',
    -- Empty: the edge has no region (no preference).
    region      text NOT NULL DEFAULT '',
    reported_at timestamptz NOT NULL DEFAULT now()
);
