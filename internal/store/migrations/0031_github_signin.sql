-- Sign-in with GitHub (issue 10): the App's OAuth client, the GitHub
-- account linked to each user, and the states of sign-ins under way.

-- The App's OAuth client (its "Client ID" and "Client secret" on GitHub;
-- the secret sealed like the private key) and GitHub's web host, where
-- browsers are sent to authorize (https://HOST for GitHub Enterprise).
-- Without a client ID, sign-in with GitHub is off.
ALTER TABLE github_app
    ADD COLUMN web_url              text NOT NULL DEFAULT 'https://github.com',
    ADD COLUMN client_id            text NOT NULL DEFAULT '',
    ADD COLUMN client_secret_sealed bytea;

-- The GitHub account a user signs in with: one each way (both keys are
-- unique), so that a second GitHub account can never take a linked user.
-- The user's GitHub token (sealed) lists the repositories the App can
-- reach for them; it expires like GitHub says.
CREATE TABLE github_identities (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    github_id        bigint NOT NULL UNIQUE,
    login            text NOT NULL,
    token_sealed     bytea,
    token_expires_at timestamptz,
    linked_at        timestamptz NOT NULL DEFAULT now()
);

-- A sign-in with GitHub under way: the hash of its state (the browser
-- holds the state in a cookie too), the hash of the invitation it
-- accepts, if any, and the client that started it (a client may have only
-- a few under way: starting is unauthenticated). Taken once by the
-- callback; pruned after expiry.
CREATE TABLE github_oauth_states (
    state_hash      bytea PRIMARY KEY,
    invitation_hash bytea,
    client_addr     text NOT NULL DEFAULT '',
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_oauth_states_expires_idx ON github_oauth_states (expires_at);
CREATE INDEX github_oauth_states_client_idx ON github_oauth_states (client_addr, expires_at);
