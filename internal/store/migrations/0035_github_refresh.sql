-- GitHub user tokens that expire (8 hours) come with a refresh token (6
-- months, single use: each refresh rotates it). It is kept sealed like the
-- access token, so that the repository list keeps working without a new
-- sign-in with GitHub every 8 hours.
ALTER TABLE github_identities
    ADD COLUMN refresh_sealed     bytea,
    ADD COLUMN refresh_expires_at timestamptz;
