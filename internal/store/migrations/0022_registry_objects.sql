-- Registry storage in PostgreSQL (issue 8, several operators): the
-- built-in registry's objects (blobs, manifests, links, tags, uploads) for
-- installs without an object store, shared by every operator replica.
-- An object's bytes are split into chunks of chunk_size bytes (1 MiB) so
-- that no row is large and a read can start anywhere. An object is written
-- under no key first (key NULL) and given its key in one transaction when
-- complete, so readers never see a part; pending objects that a crash left
-- behind are removed by the registry's GC.
CREATE TABLE registry_objects (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        text UNIQUE,
    size       bigint NOT NULL DEFAULT 0,
    chunk_size integer NOT NULL CHECK (chunk_size > 0),
    mod_time   timestamptz NOT NULL DEFAULT now()
);
-- Listing by key prefix (LIKE 'prefix%') uses this index in any collation.
CREATE INDEX registry_objects_key_prefix ON registry_objects (key text_pattern_ops);

CREATE TABLE registry_chunks (
    object_id bigint NOT NULL REFERENCES registry_objects (id) ON DELETE CASCADE,
    n         integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (object_id, n)
);
