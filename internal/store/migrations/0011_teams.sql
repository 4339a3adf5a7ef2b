-- Teams: a user belongs to several organisations through memberships, each
-- with a role; the installation's administrators manage what all
-- organisations share; user tokens are scoped, expiring and revocable;
-- invitations add members.

CREATE TABLE memberships (
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id, created_at);

-- Every existing user owned its organisation alone.
INSERT INTO memberships (organisation_id, user_id, role, created_at)
SELECT organisation_id, id, 'owner', created_at FROM users;

ALTER TABLE users ADD COLUMN installation_admin boolean NOT NULL DEFAULT false;

-- The bootstrap user (the first one) administers the installation.
UPDATE users SET installation_admin = true
WHERE id IN (SELECT user_id FROM api_tokens WHERE kind = 'user' AND name = 'bootstrap')
   OR id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);

-- A user token without organisation_id follows the organisation the request
-- names (or the user's first); with it, it works only there. role caps the
-- member's role; project_ids, if not empty, confines it to those projects.
ALTER TABLE api_tokens
    ADD COLUMN organisation_id uuid REFERENCES organisations (id) ON DELETE CASCADE,
    ADD COLUMN role            text CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    ADD COLUMN project_ids     uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN expires_at      timestamptz,
    ADD COLUMN revoked_at      timestamptz,
    ADD COLUMN last_used_addr  text NOT NULL DEFAULT '';
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id) WHERE user_id IS NOT NULL;

-- An invitation is a single-use token (only its hash is kept) for one
-- e-mail address and role.
CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    token_hash      bytea NOT NULL UNIQUE,
    invited_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    accepted_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Installation-wide settings, one row; only administrators change them.
-- Sign-up is closed while signup_domains is empty; else addresses of those
-- domains may sign up, each making an organisation of their own.
CREATE TABLE installation_settings (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    signup_domains text[] NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation_settings DEFAULT VALUES;

-- A lost membership, a changed role or a revoked token wakes every
-- replica, which ends the streams that lost their access.
CREATE TRIGGER memberships_notify AFTER UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER api_tokens_revoked_notify AFTER UPDATE ON api_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION notify_change();
