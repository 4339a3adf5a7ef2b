-- GitHub App (issue 6): push events of linked repositories build the
-- pushed commit; builds and their deployments are reported back as
-- commit statuses.

-- The operator's one GitHub App. The private key and the webhook secret
-- are sealed like env vars; api_url points at GitHub Enterprise if needed.
CREATE TABLE github_app (
    singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    app_id                bigint NOT NULL,
    slug                  text NOT NULL DEFAULT '',
    private_key_sealed    bytea NOT NULL,
    webhook_secret_sealed bytea NOT NULL,
    api_url               text NOT NULL DEFAULT 'https://api.github.com',
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- A project's source: the linked repository ("owner/name", '' for none),
-- the App installation that covers it (learnt from events), the directory
-- of the repository that is the build context and the Dockerfile in it.
-- Until a user sets the production branch, it follows the repository's
-- default branch as push events report it.
ALTER TABLE projects
    ADD COLUMN production_branch_set  boolean NOT NULL DEFAULT false,
    ADD COLUMN github_repo            text NOT NULL DEFAULT '',
    ADD COLUMN github_installation_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN root_dir               text NOT NULL DEFAULT '.',
    ADD COLUMN dockerfile             text NOT NULL DEFAULT 'Dockerfile';
CREATE INDEX projects_github_repo_idx ON projects (lower(github_repo)) WHERE github_repo <> '';

-- Builds started by a push event remember where to report their status;
-- github_reported is the last state posted ('' none yet; success and
-- failure are final).
ALTER TABLE builds
    ADD COLUMN github_repo            text NOT NULL DEFAULT '',
    ADD COLUMN github_installation_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN github_reported        text NOT NULL DEFAULT '';
CREATE INDEX builds_github_unreported_idx ON builds (created_at)
    WHERE github_installation_id <> 0 AND github_reported NOT IN ('success', 'failure');

-- Delivery IDs already acted on: GitHub redelivers, and an attacker may
-- replay a signed body; each delivery builds once. Pruned after a while.
CREATE TABLE github_deliveries (
    id          text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_deliveries_received_idx ON github_deliveries (received_at);
