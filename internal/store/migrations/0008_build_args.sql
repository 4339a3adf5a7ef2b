-- Build args (issue 6): the only values of a project's that reach its
-- builds (--build-arg). Sealed like env vars, under their own context, so
-- that one's ciphertext cannot be replayed as the other.
CREATE TABLE build_args (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       text NOT NULL,
    sealed     bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);
