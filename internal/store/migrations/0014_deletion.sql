-- Deleting organisations and projects: a user's organisation_id (the one
-- they signed up with) no longer decides whether the user exists. Before,
-- deleting an organisation deleted every user created with it, even users
-- who are members of other organisations now. Memberships say where a user
-- belongs; this column only remembers the first organisation, if it still
-- exists.
ALTER TABLE users ALTER COLUMN organisation_id DROP NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_organisation_id_fkey;
ALTER TABLE users ADD CONSTRAINT users_organisation_id_fkey
    FOREIGN KEY (organisation_id) REFERENCES organisations (id) ON DELETE SET NULL;

