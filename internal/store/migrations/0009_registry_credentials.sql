-- External registry credentials (issue 6): one per project. The password
-- (or token) is sealed under a context naming the project, host and user,
-- so that it opens for no other row, host or user. push_repository, when
-- set, is where the project's builds are pushed (on host).
CREATE TABLE registry_credentials (
    project_id      uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    host            text NOT NULL,
    username        text NOT NULL,
    sealed_password bytea NOT NULL,
    push_repository text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Where a build's image went: the digest-pinned reference its deployment
-- runs (the built-in registry or the project's push repository).
ALTER TABLE builds ADD COLUMN image_ref text NOT NULL DEFAULT '';
