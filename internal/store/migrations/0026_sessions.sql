-- Browser sign-in (issue 10): passwords, sessions, one-time sign-in links
-- and the failed attempts that rate-limit sign-in.

-- An argon2id hash in PHC form ($argon2id$v=19$m=...,t=...,p=...$salt$hash);
-- NULL: the user has no password and signs in with a link or a token.
ALTER TABLE users ADD COLUMN password_hash text;

-- A browser session. Only the SHA-256 of the cookie's value is kept, so
-- a copy of the database signs nobody in. A session ends when it is idle
-- for too long (last_seen_at), at expires_at, or when it is deleted
-- (sign-out, sign out everywhere, password change).
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    client_addr  text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- A session that ends wakes every replica, which ends the streams it
-- held open (auth.go, endOnLostAccess).
CREATE TRIGGER sessions_notify AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE CONSTRAINT TRIGGER sessions_version AFTER DELETE ON sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_feed_commit();

-- A one-time sign-in link (zeitwork up, zeitwork users signin-link): only
-- its hash is kept; it works once, before expires_at.
CREATE TABLE sign_in_links (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins, counted per e-mail address and per client address over
-- a window; kept in the database so that every operator replica counts
-- the same attempts.
CREATE TABLE sign_in_failures (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    client_addr text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_email_idx ON sign_in_failures (email, at);
CREATE INDEX sign_in_failures_addr_idx ON sign_in_failures (client_addr, at);
