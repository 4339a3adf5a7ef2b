-- name: CreateOrganisation :one
INSERT INTO organisations (id, name) VALUES ($1, $2) RETURNING *;

-- name: GetOrganisationByName :one
SELECT * FROM organisations WHERE name = $1;

-- name: CreateUser :one
INSERT INTO users (id, organisation_id, email) VALUES ($1, $2, $3) RETURNING *;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = $1;

-- name: CreateAPIToken :one
INSERT INTO api_tokens (id, kind, user_id, node_id, name, token_hash)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING *;

-- name: GetAPITokenByHash :one
SELECT t.*, COALESCE(u.installation_admin, false)::boolean AS installation_admin
FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1;

-- name: TouchAPIToken :exec
UPDATE api_tokens SET last_used_at = now() WHERE id = $1;

-- name: UpsertRegion :one
INSERT INTO regions (id, name) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING *;

-- name: ListRegions :many
SELECT * FROM regions ORDER BY id;

-- name: CreateNode :one
INSERT INTO nodes (id, region_id, hostname, tunnel_addr, driver, accel)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING *;

-- name: GetNode :one
SELECT * FROM nodes WHERE id = $1;

-- name: UpdateNodeRegistration :one
UPDATE nodes SET tunnel_addr = $2, driver = $3, accel = $4, state = 'ready', last_heartbeat_at = now()
WHERE id = $1 RETURNING *;

-- name: HeartbeatNode :one
UPDATE nodes SET last_heartbeat_at = now(), state = 'ready' WHERE id = $1 RETURNING *;

-- name: ListNodes :many
-- Removed nodes (`zeitwork nodes remove`) are kept for history only.
SELECT * FROM nodes WHERE removed_at IS NULL ORDER BY region_id, hostname;

-- name: MarkStaleNodesDown :many
UPDATE nodes SET state = 'down'
WHERE state = 'ready' AND last_heartbeat_at < now() - make_interval(secs => sqlc.arg(grace_seconds)::float8)
RETURNING *;

-- name: CreateProject :one
INSERT INTO projects (id, organisation_id, name, min_instances_per_region, port, health_path, memory_mib, vcpus)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *;

-- name: GetProjectByName :one
SELECT * FROM projects WHERE organisation_id = $1 AND name = $2;

-- name: GetProject :one
SELECT * FROM projects WHERE id = $1;

-- name: ListProjects :many
SELECT * FROM projects WHERE organisation_id = $1 ORDER BY name;

-- name: ListAllProjects :many
SELECT * FROM projects ORDER BY name;

-- name: UpsertImage :one
INSERT INTO images (id, reference, digest) VALUES ($1, $2, $3)
ON CONFLICT (reference, digest) DO UPDATE SET reference = EXCLUDED.reference RETURNING *;

-- name: CreateDeployment :one
INSERT INTO deployments (id, slug, project_id, image_ref) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: GetDeployment :one
SELECT * FROM deployments WHERE id = $1;

-- name: GetDeploymentBySlug :one
SELECT * FROM deployments WHERE slug = $1;

-- name: ListDeployments :many
SELECT * FROM deployments WHERE project_id = $1 ORDER BY created_at DESC LIMIT $2;

-- name: ListActiveDeployments :many
SELECT * FROM deployments WHERE status IN ('deploying', 'ready') ORDER BY created_at;

-- name: SetDeploymentImage :execrows
-- Only while deploying: a deployment stopped or failed meanwhile stays as
-- it is (0 rows).
UPDATE deployments SET image_id = $2, updated_at = now() WHERE id = $1 AND status = 'deploying';

-- name: AddDeploymentFailure :one
-- Counts an instance failure of a deploying deployment; the reconciler
-- decides from the count whether the deployment fails.
UPDATE deployments
SET failures = failures + 1, failed_permanently = failed_permanently OR sqlc.arg(permanent)::boolean,
    status_reason = sqlc.arg(status_reason)::text, updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'deploying' RETURNING *;

-- name: CreateInstance :one
INSERT INTO instances (id, deployment_id, region_id, node_id) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: GetInstance :one
SELECT * FROM instances WHERE id = $1;

-- name: ListInstancesByDeployment :many
SELECT * FROM instances WHERE deployment_id = $1 ORDER BY created_at, id;

-- name: ListLiveInstances :many
-- Instances the scheduler must account for: everything not yet fully stopped.
SELECT * FROM instances WHERE state <> 'stopped' ORDER BY created_at, id;

-- name: ListNodeInstances :many
SELECT * FROM instances WHERE node_id = $1 AND state <> 'stopped' ORDER BY created_at, id;

-- name: SetInstanceDesired :exec
UPDATE instances SET desired = $2, reason = CASE WHEN sqlc.arg(reason)::text = '' THEN reason ELSE sqlc.arg(reason)::text END, updated_at = now()
WHERE id = $1;

-- name: ReportInstance :one
UPDATE instances
SET state = $3, reason = $4, address = $5, restarts = $6, updated_at = now(),
    timings = COALESCE(NULLIF(sqlc.narg(timings)::jsonb, '{}'::jsonb), timings),
    healthy_at = CASE WHEN $3 = 'healthy' THEN COALESCE(healthy_at, now()) ELSE healthy_at END
WHERE id = $1 AND node_id = $2 RETURNING *;

-- name: MarkNodeInstancesLost :many
UPDATE instances SET state = 'lost', desired = 'stopped', reason = 'node stopped heartbeating', updated_at = now()
WHERE node_id = $1 AND state NOT IN ('stopped', 'lost') RETURNING *;

-- name: StopUnplacedInstances :exec
UPDATE instances SET state = 'stopped', updated_at = now()
WHERE desired = 'stopped' AND (node_id IS NULL OR state IN ('pending', 'lost'));

-- name: SetEnvVar :exec
INSERT INTO env_vars (project_id, name, sealed) VALUES ($1, $2, $3)
ON CONFLICT (project_id, name) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now();

-- name: DeleteEnvVar :execrows
DELETE FROM env_vars WHERE project_id = $1 AND name = $2;

-- name: ListEnvVars :many
SELECT * FROM env_vars WHERE project_id = $1 ORDER BY name;

-- name: AddEvent :exec
INSERT INTO events (project_id, deployment_id, instance_id, kind, message) VALUES ($1, $2, $3, $4, $5);

-- name: ListDeploymentEvents :many
SELECT * FROM events WHERE deployment_id = $1 AND id > $2 ORDER BY id LIMIT 500;

-- name: ListLogLines :many
SELECT * FROM log_lines WHERE deployment_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: ListRecentLogLines :many
SELECT * FROM (
    SELECT * FROM log_lines WHERE deployment_id = $1 ORDER BY id DESC LIMIT $2
) recent ORDER BY id;

-- name: GetImage :one
SELECT * FROM images WHERE id = $1;

-- name: ListDrainingDeployments :many
-- Deployments stopped so recently that their instances still serve the
-- requests edges sent them before the route moved.
SELECT * FROM deployments
WHERE status = 'stopped' AND updated_at > now() - make_interval(secs => sqlc.arg(drain_seconds)::float8);

-- name: PruneLogLines :execrows
-- One batch (found through log_lines_logged_at_idx), so that no delete holds
-- locks or bloats the WAL for long; callers repeat until fewer come back.
DELETE FROM log_lines WHERE id IN (
    SELECT id FROM log_lines WHERE logged_at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8)
    LIMIT sqlc.arg(batch)::int
);

-- name: PruneEvents :execrows
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE created_at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8)
    LIMIT sqlc.arg(batch)::int
);

-- Part: API (issue 5): what one organisation may see of the fleet.

-- name: ListOrganisationInstances :many
-- An organisation's instances that are not fully stopped: GET /v1/status
-- shows its users only the nodes these run on.
SELECT i.* FROM instances i
JOIN deployments d ON d.id = i.deployment_id
JOIN projects p ON p.id = d.project_id
WHERE p.organisation_id = $1 AND i.state <> 'stopped'
ORDER BY i.created_at, i.id;

-- name: LockProject :one
-- Serialises changes to one project's env vars, so that limits on their
-- count and size hold under concurrent writes.
SELECT id FROM projects WHERE id = $1 FOR UPDATE;

-- State changes (issue 5): every change of a deployment's status is a
-- compare-and-set from the status its caller saw (internal/operator/lifecycle).

-- name: TransitionDeployment :one
-- No row: the status is no longer from_status, and nothing was written.
UPDATE deployments
SET status = sqlc.arg(to_status)::text, status_reason = sqlc.arg(reason)::text, updated_at = now(),
    ready_at = CASE WHEN sqlc.arg(to_status)::text = 'ready' AND ready_at IS NULL THEN now() ELSE ready_at END
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status)::text
RETURNING *;

-- name: GoLive :execrows
-- Points the project URL at a deployment, only if it is (still) ready and
-- the live deployment is still the one the caller saw; 0 rows otherwise.
UPDATE projects p SET live_deployment_id = sqlc.arg(deployment_id)::uuid
WHERE p.id = sqlc.arg(project_id)
  AND p.live_deployment_id IS NOT DISTINCT FROM sqlc.narg(expected_live)::uuid
  AND EXISTS (
      SELECT 1 FROM deployments d
      WHERE d.id = sqlc.arg(deployment_id)::uuid AND d.project_id = p.id AND d.status = 'ready'
  );

-- name: ClearLiveDeployment :exec
-- Takes the project URL down if it serves this deployment.
UPDATE projects SET live_deployment_id = NULL WHERE id = $1 AND live_deployment_id = sqlc.arg(deployment_id)::uuid;

-- Credentials and image sources (issue 5).

-- name: DeleteNodeTokens :execrows
-- Revokes every token of a node, before it is given a new one.
DELETE FROM api_tokens WHERE node_id = $1 AND kind = 'node';

-- name: ListNodeImageRefs :many
-- The image references of the instances placed on a node: the only
-- repositories its token may pull.
SELECT DISTINCT d.image_ref
FROM instances i JOIN deployments d ON d.id = i.deployment_id
WHERE i.node_id = $1 AND i.state <> 'stopped';

-- Builds (issue 6): a queue claimed with FOR UPDATE SKIP LOCKED under a
-- lease; every status change is a compare-and-set (internal/operator/buildstate).

-- name: CreateBuild :one
INSERT INTO builds (id, project_id, source, commit_sha, branch, commit_message, commit_author, dockerfile, target, preview)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *;

-- name: PutBuildContext :exec
INSERT INTO build_contexts (build_id, archive) VALUES ($1, $2);

-- name: GetBuildContext :one
SELECT archive FROM build_contexts WHERE build_id = $1;

-- name: DeleteBuildContext :exec
DELETE FROM build_contexts WHERE build_id = $1;

-- name: GetBuild :one
SELECT * FROM builds WHERE id = $1;

-- name: ListBuilds :many
SELECT * FROM builds WHERE project_id = $1 ORDER BY created_at DESC LIMIT $2;

-- name: ListOrganisationRunningBuilds :many
-- Builds of an organisation that have not ended, for `zeitwork status`.
SELECT b.* FROM builds b JOIN projects p ON p.id = b.project_id
WHERE p.organisation_id = $1 AND b.status IN ('queued', 'building', 'pushing')
ORDER BY b.created_at;

-- name: ClaimBuild :one
-- Takes the oldest queued build for this replica; concurrent claimers skip
-- the row one of them has locked, so each build is claimed once.
UPDATE builds
SET status = 'building', lease_owner = sqlc.arg(owner)::text, attempts = attempts + 1,
    lease_expires_at = now() + make_interval(secs => sqlc.arg(lease_seconds)::float8),
    started_at = COALESCE(started_at, now()), updated_at = now()
WHERE id = (
    SELECT id FROM builds WHERE status = 'queued' ORDER BY created_at
    FOR UPDATE SKIP LOCKED LIMIT 1
)
RETURNING *;

-- name: RenewBuildLease :one
-- No row: the build is no longer this replica's to run (cancelled, or its
-- lease expired and another replica took it).
UPDATE builds SET lease_expires_at = now() + make_interval(secs => sqlc.arg(lease_seconds)::float8)
WHERE id = sqlc.arg(id) AND lease_owner = sqlc.arg(owner)::text AND status IN ('building', 'pushing')
RETURNING status;

-- name: ListExpiredBuilds :many
SELECT * FROM builds WHERE status IN ('building', 'pushing') AND lease_expires_at < now();

-- name: TransitionBuild :one
-- No row: the status is no longer from_status, and nothing was written.
UPDATE builds
SET status = sqlc.arg(to_status)::text, reason = sqlc.arg(reason)::text, updated_at = now(),
    lease_owner = CASE WHEN sqlc.arg(to_status)::text IN ('building', 'pushing') THEN lease_owner ELSE '' END,
    finished_at = CASE WHEN sqlc.arg(to_status)::text IN ('done', 'failed', 'cancelled') THEN now() ELSE finished_at END
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status)::text
  -- A runner writes only under its own claim; recovery only past the lease.
  AND (sqlc.arg(owner)::text = '' OR lease_owner = sqlc.arg(owner)::text)
  AND (NOT sqlc.arg(only_expired)::boolean OR lease_expires_at < now())
RETURNING *;

-- name: FinishBuild :one
-- Records a successful build's result; only while this replica runs it.
UPDATE builds
SET status = 'done', reason = '', image_digest = $2, deployment_id = $3, timings = $4,
    lease_owner = '', finished_at = now(), updated_at = now()
WHERE id = $1 AND status = sqlc.arg(from_status)::text AND lease_owner = sqlc.arg(owner)::text
RETURNING *;

-- name: SetBuildTimings :exec
UPDATE builds SET timings = $2 WHERE id = $1;

-- name: AddBuildLogLine :exec
INSERT INTO build_log_lines (build_id, line) VALUES ($1, $2);

-- name: ListBuildLogLines :many
SELECT * FROM build_log_lines WHERE build_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: CreateBuiltDeployment :one
INSERT INTO deployments (id, slug, project_id, image_ref, preview) VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: PruneBuildLogLines :execrows
DELETE FROM build_log_lines WHERE id IN (
    SELECT id FROM build_log_lines WHERE logged_at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8)
    LIMIT sqlc.arg(batch)::int
);


-- GitHub (issue 6)

-- name: GetGitHubApp :one
SELECT * FROM github_app WHERE singleton;

-- name: PutGitHubApp :exec
INSERT INTO github_app (singleton, app_id, slug, private_key_sealed, webhook_secret_sealed, api_url)
VALUES (true, $1, $2, $3, $4, $5)
ON CONFLICT (singleton) DO UPDATE
SET app_id = EXCLUDED.app_id, slug = EXCLUDED.slug, private_key_sealed = EXCLUDED.private_key_sealed,
    webhook_secret_sealed = EXCLUDED.webhook_secret_sealed, api_url = EXCLUDED.api_url, updated_at = now();

-- name: UpdateProjectSource :one
UPDATE projects
SET github_repo = $2, production_branch = $3, root_dir = $4, dockerfile = $5,
    production_branch_set = production_branch_set OR sqlc.arg(branch_set)::boolean,
    github_installation_id = CASE WHEN lower(github_repo) = lower($2) THEN github_installation_id ELSE 0 END
WHERE id = $1
RETURNING *;

-- name: CountRepoLinksOutsideOrganisation :one
SELECT count(*) FROM projects WHERE lower(github_repo) = lower(sqlc.arg(repo)::text) AND organisation_id <> sqlc.arg(organisation_id);

-- name: ListProjectsByGitHubRepo :many
SELECT * FROM projects WHERE github_repo <> '' AND lower(github_repo) = lower($1) ORDER BY created_at;

-- name: SetProjectGitHubInstallation :exec
UPDATE projects SET github_installation_id = $2 WHERE id = $1 AND github_installation_id <> $2;

-- name: FollowDefaultBranch :exec
-- A project whose production branch no user set follows the repository's
-- default branch.
UPDATE projects SET production_branch = $2
WHERE id = $1 AND NOT production_branch_set AND production_branch <> $2;

-- name: GitHubDeliverySeen :one
SELECT EXISTS (SELECT 1 FROM github_deliveries WHERE id = $1);

-- name: InsertGitHubDelivery :execrows
INSERT INTO github_deliveries (id) VALUES ($1) ON CONFLICT (id) DO NOTHING;

-- name: PruneGitHubDeliveries :execrows
DELETE FROM github_deliveries WHERE received_at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8);

-- name: SetBuildGitHub :exec
UPDATE builds SET github_repo = $2, github_installation_id = $3 WHERE id = $1;

-- name: ListGitHubBuildsToReport :many
-- Builds from push events whose final status has not been posted yet,
-- with what decides it: the build's status and its deployment's.
SELECT b.id, b.commit_sha, b.github_repo, b.github_installation_id, b.github_reported, b.status, b.reason,
       b.preview, p.name AS project_name,
       coalesce(d.status, '')::text AS deployment_status, coalesce(d.slug, '')::text AS deployment_slug,
       coalesce(d.status_reason, '')::text AS deployment_reason
FROM builds b
JOIN projects p ON p.id = b.project_id
LEFT JOIN deployments d ON d.id = b.deployment_id
WHERE b.github_installation_id <> 0 AND b.github_reported NOT IN ('success', 'failure')
  -- A status GitHub keeps refusing (the App uninstalled) is given up on.
  AND b.created_at > now() - interval '1 day'
ORDER BY b.created_at
LIMIT $1;

-- name: SetBuildGitHubReported :exec
UPDATE builds SET github_reported = $2 WHERE id = $1;

-- Build args (issue 6)

-- name: SetBuildArg :exec
INSERT INTO build_args (project_id, name, sealed) VALUES ($1, $2, $3)
ON CONFLICT (project_id, name) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now();

-- name: DeleteBuildArg :execrows
DELETE FROM build_args WHERE project_id = $1 AND name = $2;

-- name: ListBuildArgs :many
SELECT * FROM build_args WHERE project_id = $1 ORDER BY name;

-- External registry credentials (issue 6)

-- name: SetRegistryCredentials :one
INSERT INTO registry_credentials (project_id, host, username, sealed_password, push_repository)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (project_id) DO UPDATE SET host = EXCLUDED.host, username = EXCLUDED.username,
    sealed_password = EXCLUDED.sealed_password, push_repository = EXCLUDED.push_repository, updated_at = now()
RETURNING *;

-- name: GetRegistryCredentials :one
SELECT * FROM registry_credentials WHERE project_id = $1;

-- name: DeleteRegistryCredentials :execrows
DELETE FROM registry_credentials WHERE project_id = $1;

-- name: SetBuildImageRef :exec
UPDATE builds SET image_ref = $2 WHERE id = $1;
-- Audit log (issue 9)

-- name: InsertAuditEntry :exec
INSERT INTO audit_log (organisation_id, project_id, project, actor_kind, actor_role, user_id, token_id,
                       action, object_kind, object, method, path, client_addr, status, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15);

-- name: ListAuditEntries :many
-- One organisation's entries, newest first, a page at a time: before is
-- the id of the last entry of the previous page (0: the first page); an
-- empty project means all projects.
-- The user's email and the token's name are joined at read time; an entry
-- of a user or token deleted since shows their ids only.
SELECT a.*, coalesce(u.email, '')::text AS user_email, coalesce(t.name, '')::text AS token_name
FROM audit_log a
LEFT JOIN users u ON u.id = a.user_id
LEFT JOIN api_tokens t ON t.id = a.token_id
WHERE a.organisation_id = sqlc.arg(organisation_id)::uuid
  AND (sqlc.arg(project)::text = '' OR a.project = sqlc.arg(project)::text)
  AND a.created_at >= sqlc.arg(since)::timestamptz
  AND (sqlc.arg(before)::bigint = 0 OR a.id < sqlc.arg(before)::bigint)
ORDER BY a.id DESC
LIMIT sqlc.arg(max_rows)::int;

-- name: PruneAuditLog :one
-- Through audit_log_prune, the one delete the append-only trigger allows.
SELECT audit_log_prune(sqlc.arg(keep_seconds)::float8, sqlc.arg(batch)::int)::bigint AS deleted;
-- Edge protection (issue 7): rate limits.

-- name: UpdateProjectRateLimits :one
UPDATE projects
SET rate_limit_rps = $2, rate_limit_burst = $3, client_rate_limit_rps = $4, client_rate_limit_burst = $5
WHERE id = $1
RETURNING *;
-- Build flow (issue 6): GitHub builds fetch their source when they run.

-- name: SetBuildGitHubSource :exec
-- Where a build from a push event fetches its commit from when it runs.
UPDATE builds SET github_repo = $2, github_installation_id = $3, root_dir = $4 WHERE id = $1;

-- name: SetRunningBuildTimings :exec
-- Stage timings as a build runs, written only under the runner's claim: a
-- replica that lost the build does not overwrite its new runner's.
UPDATE builds SET timings = $2 WHERE id = $1 AND lease_owner = sqlc.arg(owner)::text;
-- Teams (issue 9): memberships, roles, scoped user tokens, invitations.

-- name: AddMembership :one
INSERT INTO memberships (organisation_id, user_id, role) VALUES ($1, $2, $3)
ON CONFLICT (organisation_id, user_id) DO UPDATE SET role = EXCLUDED.role RETURNING *;

-- name: GetMembership :one
SELECT * FROM memberships WHERE organisation_id = $1 AND user_id = $2;

-- name: ListUserOrganisations :many
SELECT o.id, o.name, o.created_at, m.role
FROM memberships m JOIN organisations o ON o.id = m.organisation_id
WHERE m.user_id = $1 ORDER BY o.name;

-- name: ListMembers :many
SELECT u.id, u.email, u.installation_admin, m.role, m.created_at
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organisation_id = $1 ORDER BY u.email;

-- name: SetMemberRole :execrows
UPDATE memberships SET role = $3 WHERE organisation_id = $1 AND user_id = $2;

-- name: RemoveMember :execrows
DELETE FROM memberships WHERE organisation_id = $1 AND user_id = $2;

-- name: CountOwners :one
SELECT count(*) FROM memberships WHERE organisation_id = $1 AND role = 'owner';

-- name: SetInstallationAdmin :exec
UPDATE users SET installation_admin = $2 WHERE id = $1;

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: CreateUserToken :one
INSERT INTO api_tokens (id, kind, user_id, name, token_hash, organisation_id, role, project_ids, expires_at)
VALUES ($1, 'user', $2, $3, $4, $5, $6, $7, $8) RETURNING *;

-- name: ListUserTokens :many
SELECT t.id, t.name, t.role, t.project_ids, t.expires_at, t.revoked_at, t.created_at,
       t.last_used_at, t.last_used_addr, o.name AS organisation
FROM api_tokens t LEFT JOIN organisations o ON o.id = t.organisation_id
WHERE t.user_id = $1 ORDER BY t.created_at;

-- name: RevokeUserToken :execrows
UPDATE api_tokens SET revoked_at = now()
WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL;

-- name: RevokeMemberTokens :execrows
UPDATE api_tokens SET revoked_at = now()
WHERE user_id = $1 AND organisation_id = $2 AND revoked_at IS NULL;

-- name: TouchUserToken :exec
-- At most one write a minute per token, unless the address changed.
UPDATE api_tokens SET last_used_at = now(), last_used_addr = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute' OR last_used_addr <> $2);

-- name: ProjectNames :many
SELECT id, name FROM projects WHERE id = ANY(@ids::uuid[]) ORDER BY name;

-- name: CreateInvitation :one
INSERT INTO invitations (id, organisation_id, email, role, token_hash, invited_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *;

-- name: GetInvitationByHash :one
SELECT i.*, o.name AS organisation
FROM invitations i JOIN organisations o ON o.id = i.organisation_id
WHERE i.token_hash = $1 FOR UPDATE OF i;

-- name: AcceptInvitation :execrows
UPDATE invitations SET accepted_at = now(), accepted_by = $2
WHERE id = $1 AND accepted_at IS NULL AND expires_at > now();

-- name: ListInvitations :many
SELECT * FROM invitations WHERE organisation_id = $1 AND accepted_at IS NULL AND expires_at > now()
ORDER BY created_at;

-- name: LockOrganisation :one
SELECT id FROM organisations WHERE id = $1 FOR UPDATE;

-- name: GetProjectByNameAnyOrganisation :one
SELECT * FROM projects WHERE name = $1;

-- name: GetInstallationSettings :one
SELECT * FROM installation_settings;

-- name: SetSignupDomains :one
UPDATE installation_settings SET signup_domains = $1, updated_at = now() RETURNING *;

-- name: GetMemberOrganisation :one
SELECT m.role, o.id, o.name FROM memberships m JOIN organisations o ON o.id = m.organisation_id
WHERE m.user_id = $1 AND (o.id = sqlc.narg(id) OR o.name = sqlc.narg(name))
ORDER BY m.created_at, o.id LIMIT 1;

-- name: FirstMemberOrganisation :one
SELECT m.role, o.id, o.name FROM memberships m JOIN organisations o ON o.id = m.organisation_id
WHERE m.user_id = $1 ORDER BY m.created_at, o.id LIMIT 1;

-- Part: deletion (issue 9): deleting projects and organisations.

-- name: ListProjectRunningDeployments :many
SELECT * FROM deployments WHERE project_id = $1 AND status IN ('deploying', 'ready') ORDER BY created_at;

-- name: ListProjectRunningBuilds :many
SELECT * FROM builds WHERE project_id = $1 AND status IN ('queued', 'building', 'pushing') ORDER BY created_at;

-- name: DeleteProject :execrows
-- Its deployments, instances, builds, env vars, build args and registry
-- login go with it (ON DELETE CASCADE); the audit log keeps its entries.
DELETE FROM projects WHERE id = $1;

-- name: ListOrganisationProjectNames :many
SELECT name FROM projects WHERE organisation_id = $1 ORDER BY name;

-- name: DeleteOrganisation :execrows
-- Its memberships, invitations and the tokens limited to it go with it;
-- its users stay (users.organisation_id is set to NULL).
DELETE FROM organisations WHERE id = $1;

-- name: CountTokensOutsideOrganisation :one
-- The user's live tokens that do not end with the organisation: an
-- installation administrator must keep one (deleting an organisation must
-- not lock them out of the installation).
SELECT count(*) FROM api_tokens
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
  AND organisation_id IS DISTINCT FROM sqlc.arg(organisation_id)::uuid;

-- name: IsInstallationAdmin :one
SELECT installation_admin FROM users WHERE id = $1;
-- Custom domains (issue 7, item 2)

-- name: CreateDomain :one
INSERT INTO domains (id, project_id, name, token, redirect_to, redirect_status)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING *;

-- name: ListProjectDomains :many
SELECT * FROM domains WHERE project_id = $1 ORDER BY name;

-- name: ListOrganisationDomains :many
SELECT d.*, p.name AS project FROM domains d JOIN projects p ON p.id = d.project_id
WHERE p.organisation_id = $1 ORDER BY d.name;

-- name: GetProjectDomain :one
SELECT * FROM domains WHERE project_id = $1 AND name = $2;

-- name: DeleteProjectDomain :execrows
DELETE FROM domains WHERE project_id = $1 AND name = $2;

-- name: ListRoutedDomains :many
SELECT * FROM domains WHERE status IN ('verified', 'failing') ORDER BY created_at, name;

-- name: DueDomains :many
SELECT * FROM domains WHERE next_check_at <= now() ORDER BY next_check_at LIMIT $1;

-- name: RecordDomainCheck :one
UPDATE domains SET status = @status, reason = @reason, checked_at = now(),
    verified_at = CASE WHEN @status = 'verified' THEN now() ELSE verified_at END,
    failing_since = sqlc.narg(failing_since), failures = @failures,
    next_check_at = now() + make_interval(secs => @next_check_seconds::double precision)
WHERE id = @id RETURNING *;

-- name: ExpirePendingDomains :many
DELETE FROM domains WHERE status = 'pending' AND verified_at IS NULL
    AND created_at < now() - make_interval(secs => @ttl_seconds::double precision)
RETURNING *;
-- ---------------------------------------------------------------------
-- Edge TLS: certificate storage, issuance locks, issuance status.

-- name: PutEdgeCert :exec
INSERT INTO edge_certs (key, sealed, size, modified_at) VALUES ($1, $2, $3, now())
ON CONFLICT (key) DO UPDATE SET sealed = EXCLUDED.sealed, size = EXCLUDED.size, modified_at = now();

-- name: GetEdgeCert :one
SELECT * FROM edge_certs WHERE key = $1;

-- name: DeleteEdgeCerts :execrows
DELETE FROM edge_certs WHERE key = sqlc.arg(key)::text OR starts_with(key, sqlc.arg(key)::text || '/');

-- name: ListEdgeCertKeys :many
SELECT key FROM edge_certs WHERE sqlc.arg(prefix)::text = '' OR starts_with(key, sqlc.arg(prefix)::text || '/')
ORDER BY key;

-- name: AcquireEdgeCertLock :execrows
INSERT INTO edge_cert_locks (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => sqlc.arg(ttl_seconds)::double precision))
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE edge_cert_locks.expires_at <= now();

-- name: RefreshEdgeCertLock :execrows
UPDATE edge_cert_locks SET expires_at = now() + make_interval(secs => sqlc.arg(ttl_seconds)::double precision)
WHERE name = $1 AND holder = $2;

-- name: ReleaseEdgeCertLock :execrows
DELETE FROM edge_cert_locks WHERE name = $1 AND holder = $2;

-- name: RecordEdgeCertError :exec
INSERT INTO edge_cert_status (name, last_error, last_error_at, updated_at) VALUES ($1, $2, now(), now())
ON CONFLICT (name) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = now(), updated_at = now();

-- name: RecordEdgeCertIssued :exec
INSERT INTO edge_cert_status (name, issued_at, updated_at) VALUES ($1, now(), now())
ON CONFLICT (name) DO UPDATE SET last_error = '', issued_at = now(), updated_at = now();

-- name: ListEdgeCertStatus :many
SELECT * FROM edge_cert_status ORDER BY name;

-- name: ListEdgeCertStatusByNames :many
SELECT * FROM edge_cert_status WHERE name = ANY(sqlc.arg(names)::text[]) ORDER BY name;

-- Edge access logs (issue 7, operability)

-- name: ListEdgeLogLines :many
SELECT * FROM edge_log_lines WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: ListRecentEdgeLogLines :many
SELECT * FROM (
    SELECT * FROM edge_log_lines WHERE project_id = $1 ORDER BY id DESC LIMIT $2
) recent ORDER BY id;

-- name: PruneEdgeLogLines :execrows
-- One batch, as PruneLogLines.
DELETE FROM edge_log_lines WHERE id IN (
    SELECT id FROM edge_log_lines WHERE logged_at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8)
    LIMIT sqlc.arg(batch)::int
);
-- HTTPS per project (issue 7): HSTS and the versioned URL's redirect.

-- name: UpdateProjectHTTPS :one
UPDATE projects
SET hsts_max_age = $2, https_redirect_versioned = $3
WHERE id = $1
RETURNING *;

-- Edge certificate outcomes (issue 7, edgecert): expiry, shared backoff.

-- name: RecordEdgeCertFailure :one
-- One failure more for name; the next attempt waits the step of the new
-- failure count (the last step repeats).
INSERT INTO edge_cert_status (name, last_error, last_error_at, failures, next_attempt_at, updated_at)
VALUES ($1, $2, now(), 1, now() + make_interval(secs => (sqlc.arg(steps)::float8[])[1]), now())
ON CONFLICT (name) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = now(),
    failures = edge_cert_status.failures + 1,
    next_attempt_at = now() + make_interval(secs => (sqlc.arg(steps)::float8[])[
        least(edge_cert_status.failures + 1, cardinality(sqlc.arg(steps)::float8[]))]),
    updated_at = now()
RETURNING *;

-- name: RecordEdgeCertObtained :one
INSERT INTO edge_cert_status (name, issued_at, expires_at, updated_at) VALUES ($1, now(), $2, now())
ON CONFLICT (name) DO UPDATE SET last_error = '', issued_at = now(), expires_at = EXCLUDED.expires_at,
    failures = 0, next_attempt_at = NULL, updated_at = now()
RETURNING *;

-- name: GetEdgeCertStatus :one
SELECT * FROM edge_cert_status WHERE name = $1;
-- ---------------------------------------------------------------------
-- GeoDNS (issue 8): ACME DNS-01 challenges for the apps zone.

-- name: PresentACMEChallenge :exec
INSERT INTO acme_challenges (name, value, expires_at)
VALUES ($1, $2, now() + make_interval(secs => sqlc.arg(ttl_seconds)::float8))
ON CONFLICT (name, value) DO UPDATE SET expires_at = EXCLUDED.expires_at;

-- name: CleanupACMEChallenge :execrows
DELETE FROM acme_challenges WHERE name = $1 AND value = $2;

-- name: ListACMEChallenges :many
SELECT name, value FROM acme_challenges WHERE expires_at > now()
ORDER BY name, value LIMIT sqlc.arg(max)::int;

-- name: CountACMEChallenges :one
SELECT count(*) FROM acme_challenges WHERE expires_at > now();

-- name: PruneACMEChallenges :execrows
DELETE FROM acme_challenges WHERE expires_at <= now();
-- Several operators (issue 8): the shared change feed and build push tokens.

-- name: GetChangeVersion :one
SELECT version FROM change_feed;

-- name: SetBuildPushToken :exec
UPDATE builds SET push_token_hash = $2 WHERE id = $1;

-- name: ClearBuildPushToken :exec
UPDATE builds SET push_token_hash = NULL WHERE id = $1;

-- name: GetBuildPushOrg :one
-- The organisation of the running build whose push token hashes to $1.
SELECT p.organisation_id FROM builds b JOIN projects p ON p.id = b.project_id
WHERE b.push_token_hash = $1 AND b.status IN ('building', 'pushing');
-- Regions and capacity (issue 8): node capacity and drain, project regions,
-- and what the scheduler plans from.

-- name: SetNodeCapacity :exec
UPDATE nodes SET vcpus = $2, memory_mib = $3, disk_gib = $4 WHERE id = $1;

-- name: SetNodeDrained :one
UPDATE nodes SET drained = $2 WHERE id = $1 RETURNING *;

-- name: UpdateProjectRegions :one
UPDATE projects SET regions = $2 WHERE id = $1 RETURNING *;

-- name: ListPlacementInstances :many
-- Live instances with the size their project gives them, for the
-- scheduler's capacity accounting. retired: out of the route table for
-- longer than the drain period, so edges no longer send it requests.
SELECT i.id, i.deployment_id, i.region_id, i.node_id, i.desired, i.state,
       p.vcpus, p.memory_mib, (i.retiring_at IS NOT NULL)::boolean AS retiring,
       COALESCE(i.retiring_at < now() - make_interval(secs => sqlc.arg(drain_seconds)::float8), false)::boolean AS retired
FROM instances i
JOIN deployments d ON d.id = i.deployment_id
JOIN projects p ON p.id = d.project_id
WHERE i.state <> 'stopped'
ORDER BY i.created_at, i.id;

-- name: RetireInstance :exec
-- Takes an instance out of the route table; idempotent.
UPDATE instances SET retiring_at = now(), updated_at = now() WHERE id = $1 AND retiring_at IS NULL;
-- Identity (issue 8): the cluster CA, join tokens, removing nodes.

-- name: GetClusterCA :one
SELECT * FROM cluster_ca WHERE id = 1;

-- name: InsertClusterCA :execrows
-- The first replica to start makes the CA; the others read it.
INSERT INTO cluster_ca (id, cert_pem, key_sealed) VALUES (1, $1, $2)
ON CONFLICT (id) DO NOTHING;

-- name: CreateJoinToken :one
INSERT INTO join_tokens (id, role, token_hash, created_by, expires_at)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: GetJoinTokenByHash :one
SELECT * FROM join_tokens WHERE token_hash = $1 FOR UPDATE;

-- name: UseJoinToken :execrows
-- Spends a join token: only one enrolment can, and only before it expires.
UPDATE join_tokens SET used_at = now(), used_by = sqlc.arg(used_by)
WHERE id = $1 AND used_at IS NULL AND expires_at > now();

-- name: RemoveNode :one
-- Marks a node removed and down; the caller revokes its tokens and
-- reschedules its instances in the same transaction.
UPDATE nodes SET removed_at = COALESCE(removed_at, now()), state = 'down'
WHERE id = $1 RETURNING *;

-- name: FindNodes :many
-- Nodes whose id starts with prefix (hex digits and dashes only, checked
-- by the caller; empty: none) or whose hostname is name.
SELECT * FROM nodes
WHERE (sqlc.arg(prefix)::text <> '' AND id::text LIKE sqlc.arg(prefix)::text || '%') OR hostname = sqlc.arg(name)::text
ORDER BY created_at;

-- name: MarkRemovedNodeInstancesLost :many
UPDATE instances SET state = 'lost', desired = 'stopped', reason = 'node was removed', updated_at = now()
WHERE node_id = $1 AND state NOT IN ('stopped', 'lost') RETURNING *;
-- Registry storage in PostgreSQL (issue 8, several operators)

-- name: CreateRegistryObject :one
-- A pending object: chunks are added, then FinishRegistryObject names it.
INSERT INTO registry_objects (chunk_size) VALUES ($1) RETURNING id;

-- name: AddRegistryChunk :exec
INSERT INTO registry_chunks (object_id, n, data) VALUES ($1, $2, $3);

-- name: DeleteRegistryObject :execrows
DELETE FROM registry_objects WHERE key = sqlc.arg(key)::text;

-- name: DeleteRegistryObjectByID :exec
DELETE FROM registry_objects WHERE id = $1;

-- name: FinishRegistryObject :exec
-- Run in the transaction that first deletes the object the key named.
UPDATE registry_objects SET key = sqlc.arg(key)::text, size = sqlc.arg(size), mod_time = now() WHERE id = sqlc.arg(id);

-- name: GetRegistryObject :one
SELECT id, size, chunk_size, mod_time FROM registry_objects WHERE key = sqlc.arg(key)::text;

-- name: GetRegistryChunk :one
SELECT data FROM registry_chunks WHERE object_id = $1 AND n = $2;

-- name: TouchRegistryObject :execrows
UPDATE registry_objects SET mod_time = now() WHERE key = sqlc.arg(key)::text;

-- name: RenameRegistryObject :execrows
UPDATE registry_objects SET key = sqlc.arg(new_key)::text WHERE key = sqlc.arg(old_key)::text;

-- name: DeleteRegistryObjectsByPrefix :exec
-- pattern is the prefix with LIKE's special characters escaped, then '%'.
DELETE FROM registry_objects WHERE key LIKE sqlc.arg(pattern)::text;

-- name: ListRegistryKeys :many
SELECT key::text FROM registry_objects WHERE key LIKE sqlc.arg(pattern)::text ORDER BY key;

-- name: DeletePendingRegistryObjects :execrows
-- Objects a crash left unnamed; pending ones still being written are
-- younger than the age given.
DELETE FROM registry_objects
WHERE key IS NULL AND mod_time < now() - make_interval(secs => sqlc.arg(age_seconds)::float8);

-- Scale to zero (issue 11, item 5).

-- name: UpdateProjectScaleToZero :one
UPDATE projects SET scale_to_zero = sqlc.arg(scale_to_zero)::text, idle_timeout_seconds = sqlc.arg(idle_timeout_seconds)::int
WHERE id = sqlc.arg(id) RETURNING *;

-- name: RecordDeploymentActivity :execrows
-- Moves each named deployment's last request time forward, never back
-- and never past now (an edge's clock may run ahead).
INSERT INTO deployment_activity (deployment_id, last_request_at)
SELECT d.id, least(max(a.at), now())
FROM (SELECT unnest(sqlc.arg(slugs)::text[]) AS slug, unnest(sqlc.arg(ats)::timestamptz[]) AS at) a
JOIN deployments d ON d.slug = a.slug
GROUP BY d.id
ON CONFLICT (deployment_id) DO UPDATE
SET last_request_at = greatest(deployment_activity.last_request_at, EXCLUDED.last_request_at);

-- name: SleepIdleDeployments :many
-- Puts to sleep every ready deployment that scales to zero and has had no
-- request, wake, promotion or newly healthy instance for its project's idle
-- timeout; an instance still booting (after a wake) keeps it awake, so that
-- a wake slower than the timeout is not undone before it serves. One
-- statement, so that a report or a wake committed before it is seen, and a
-- second reconciler finds nothing left to do.
UPDATE deployments d SET asleep = true, updated_at = now()
FROM projects p
WHERE d.project_id = p.id AND d.status = 'ready' AND NOT d.asleep
  AND (p.scale_to_zero = 'all' OR (p.scale_to_zero = 'previews' AND d.preview))
  AND greatest(d.ready_at, d.woken_at,
        (SELECT a.last_request_at FROM deployment_activity a WHERE a.deployment_id = d.id),
        (SELECT max(COALESCE(i.healthy_at, CASE WHEN i.state IN ('pending', 'starting') THEN now() END))
         FROM instances i WHERE i.deployment_id = d.id AND i.desired = 'running'))
      < now() - make_interval(secs => p.idle_timeout_seconds)
RETURNING d.*;

-- name: WakeDeployment :one
-- Wakes a sleeping deployment; no row when it is awake already (or not
-- ready), so that any number of wakes from any number of edges start one
-- set of instances.
UPDATE deployments SET asleep = false, woken_at = now(), updated_at = now()
WHERE slug = $1 AND asleep AND status = 'ready'
RETURNING *;

-- name: GetDeploymentLastRequest :one
SELECT last_request_at FROM deployment_activity WHERE deployment_id = $1;
-- ---------------------------------------------------------------------
-- Dashboard API (issue 10): passwords, sessions, sign-in links, failed
-- sign-ins, deployment events, the change stream.

-- name: SetUserPassword :exec
UPDATE users SET password_hash = sqlc.narg(password_hash) WHERE id = sqlc.arg(id);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = $1;

-- name: CreateSession :one
INSERT INTO sessions (id, user_id, token_hash, csrf_token, expires_at, client_addr, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *;

-- name: GetSessionByHash :one
SELECT s.*, u.email, u.installation_admin
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1;

-- name: TouchSession :exec
UPDATE sessions SET last_seen_at = now() WHERE id = $1;

-- name: DeleteSession :execrows
DELETE FROM sessions WHERE id = $1;

-- name: DeleteUserSessions :execrows
-- Signs the user out everywhere, but for the session keep (uuid.Nil: none).
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) AND id <> sqlc.arg(keep);

-- name: DeleteExpiredSessions :execrows
DELETE FROM sessions WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => sqlc.arg(idle_seconds)::float8);

-- name: CreateSignInLink :one
INSERT INTO sign_in_links (id, user_id, token_hash, expires_at, created_by)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: UseSignInLink :one
-- Spends a link: only one caller gets its row, and only before it expires.
UPDATE sign_in_links SET used_at = now()
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: DeleteOldSignInLinks :execrows
DELETE FROM sign_in_links WHERE expires_at < now() - interval '1 day';

-- name: RecordSignInFailure :exec
INSERT INTO sign_in_failures (email, client_addr) VALUES ($1, $2);

-- name: CountSignInFailures :one
-- Failures within the window for the address and for the e-mail, and when
-- the oldest of each leaves the window.
SELECT
    count(*) FILTER (WHERE email = sqlc.arg(email)::text)::int AS by_email,
    count(*) FILTER (WHERE client_addr = sqlc.arg(client_addr)::text)::int AS by_addr,
    coalesce(min(at) FILTER (WHERE email = sqlc.arg(email)::text), now())::timestamptz AS oldest_email,
    coalesce(min(at) FILTER (WHERE client_addr = sqlc.arg(client_addr)::text), now())::timestamptz AS oldest_addr
FROM sign_in_failures
WHERE (email = sqlc.arg(email)::text OR client_addr = sqlc.arg(client_addr)::text)
  AND at > now() - make_interval(secs => sqlc.arg(window_seconds)::float8);

-- name: ClearSignInFailures :exec
DELETE FROM sign_in_failures WHERE email = $1;

-- name: DeleteOldSignInFailures :execrows
DELETE FROM sign_in_failures WHERE at < now() - make_interval(secs => sqlc.arg(window_seconds)::float8);

-- name: ChangeStreamXmin :one
-- The oldest transaction still running: every older one has ended.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin;

-- name: ListChanges :many
-- Changes for a stream, from transactions from after on (a stream's
-- previous xmin), for the organisation, the user, or administrators.
SELECT id, xid::text::bigint AS xid, organisation_id, project_id, project, kind, object
FROM changes
WHERE xid >= sqlc.arg(after)::bigint::text::xid8
  AND (organisation_id = sqlc.arg(organisation_id)::uuid
       OR user_id = sqlc.arg(user_id)::uuid
       OR (organisation_id IS NULL AND user_id IS NULL AND sqlc.arg(admin)::boolean))
ORDER BY id
LIMIT sqlc.arg(max_rows);

-- name: PruneChanges :execrows
DELETE FROM changes WHERE id IN (
    SELECT id FROM changes WHERE at < now() - make_interval(secs => sqlc.arg(keep_seconds)::float8) LIMIT sqlc.arg(batch)
);
-- VM usage (issue 11: memory and idle CPU per instance)

-- name: UpsertInstanceUsage :exec
INSERT INTO instance_usage (instance_id, rss_bytes, pss_bytes, uss_bytes, shared_bytes, cpu_percent, sampled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (instance_id) DO UPDATE
SET rss_bytes = EXCLUDED.rss_bytes, pss_bytes = EXCLUDED.pss_bytes, uss_bytes = EXCLUDED.uss_bytes,
    shared_bytes = EXCLUDED.shared_bytes, cpu_percent = EXCLUDED.cpu_percent, sampled_at = EXCLUDED.sampled_at;

-- name: ListInstanceUsageByDeployment :many
-- Usage of a deployment's instances that are up; a stopped or failed
-- instance's last figures would describe a VM that is gone.
SELECT u.* FROM instance_usage u JOIN instances i ON i.id = u.instance_id
WHERE i.deployment_id = $1 AND i.state IN ('starting', 'healthy');

-- Project runtime settings (dashboard, dash2).

-- name: UpdateProjectRuntime :one
UPDATE projects SET port = sqlc.arg(port)::int, health_path = sqlc.arg(health_path)::text,
    memory_mib = sqlc.arg(memory_mib)::int, vcpus = sqlc.arg(vcpus)::int,
    min_instances_per_region = sqlc.arg(min_instances_per_region)::int
WHERE id = sqlc.arg(id) RETURNING *;

-- name: DeleteInvitation :one
-- Revokes an invitation not yet accepted; its token then finds nothing.
DELETE FROM invitations WHERE id = $1 AND organisation_id = $2 AND accepted_at IS NULL RETURNING *;

-- Edge regions (polish): what each edge enrolled and reports with.

-- name: CreateEdge :exec
INSERT INTO edges (id, hostname, region) VALUES ($1, $2, $3);

-- name: ReportEdgeRegion :exec
-- Writes only when the region changed: edges report it on every poll.
INSERT INTO edges (id, region) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, reported_at = now()
WHERE edges.region IS DISTINCT FROM EXCLUDED.region;

-- name: ListEdges :many
SELECT t.id, t.name, t.created_at, t.last_used_at, t.revoked_at,
    COALESCE(e.hostname, '')::text AS hostname, COALESCE(e.region, '')::text AS region, e.reported_at
FROM api_tokens t LEFT JOIN edges e ON e.id = t.id
WHERE t.kind = 'edge' ORDER BY t.created_at, t.id;
-- ---------------------------------------------------------------------
-- Sign-in with GitHub (issue 10, ghsignin): the App's OAuth client,
-- linked GitHub accounts, sign-in states, atomic sign-in rate limit.

-- name: SetGitHubAppOAuth :exec
UPDATE github_app
SET client_id = $1, client_secret_sealed = $2, web_url = $3, updated_at = now()
WHERE singleton;

-- name: CreateGitHubOAuthState :execrows
-- Starts a sign-in unless the client has max_pending under way already.
INSERT INTO github_oauth_states (state_hash, invitation_hash, client_addr, expires_at)
SELECT sqlc.arg(state_hash), sqlc.narg(invitation_hash), sqlc.arg(client_addr)::text, sqlc.arg(expires_at)
WHERE (SELECT count(*) FROM github_oauth_states
       WHERE client_addr = sqlc.arg(client_addr)::text AND expires_at > now()) < sqlc.arg(max_pending)::int;

-- name: TakeGitHubOAuthState :one
-- Spends a state: only one callback gets its row, and only before expiry.
DELETE FROM github_oauth_states WHERE state_hash = $1 AND expires_at > now()
RETURNING *;

-- name: DeleteOldGitHubOAuthStates :execrows
DELETE FROM github_oauth_states WHERE expires_at < now();

-- name: GetGitHubIdentityByGitHubID :one
SELECT * FROM github_identities WHERE github_id = $1;

-- name: GetGitHubIdentity :one
SELECT * FROM github_identities WHERE user_id = $1;

-- name: LinkGitHubIdentity :one
-- Fails on either unique key: a user has one GitHub account and a
-- GitHub account one user.
INSERT INTO github_identities (user_id, github_id, login) VALUES ($1, $2, $3) RETURNING *;

-- name: DeleteGitHubIdentity :execrows
DELETE FROM github_identities WHERE user_id = $1;

-- name: LockSignInAttempts :exec
-- Serialises the check-and-count of sign-in attempts for an address and
-- a client until the transaction ends (email first, then client: no
-- deadlock).
SELECT pg_advisory_xact_lock(2610, hashtext(sqlc.arg(email)::text)),
       pg_advisory_xact_lock(2611, hashtext(sqlc.arg(client_addr)::text));

-- name: ReserveSignInAttempt :one
-- Counts an attempt as failed before its check; a success deletes it.
INSERT INTO sign_in_failures (email, client_addr) VALUES ($1, $2) RETURNING id;

-- name: DeleteSignInFailure :exec
DELETE FROM sign_in_failures WHERE id = $1;

-- Edge removal (edgerevoke): a removed edge's token is revoked (the row
-- stays, so the edge is listed as removed), and its certificate with it.

-- name: FindEdges :many
-- Edges whose id starts with prefix (hex digits and dashes only, checked
-- by the caller; empty: none) or whose hostname is name.
SELECT t.id, t.name, t.revoked_at, COALESCE(e.hostname, '')::text AS hostname
FROM api_tokens t LEFT JOIN edges e ON e.id = t.id
WHERE t.kind = 'edge' AND ((sqlc.arg(prefix)::text <> '' AND t.id::text LIKE sqlc.arg(prefix)::text || '%')
    OR e.hostname = sqlc.arg(name)::text OR t.name = 'edge ' || sqlc.arg(name)::text)
ORDER BY t.created_at, t.id;

-- name: RemoveEdge :one
-- Revokes an edge's token; removing a removed edge keeps its first time.
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
WHERE id = $1 AND kind = 'edge' RETURNING revoked_at;

-- name: ListRevokedEdges :many
-- Edges removed since the given time: their certificates may still be
-- unexpired, so node agents refuse them.
SELECT id FROM api_tokens
WHERE kind = 'edge' AND revoked_at > sqlc.arg(since)::timestamptz ORDER BY id;

-- ---------------------------------------------------------------------
-- GitHub user token refresh (fixes): the access token and the refresh
-- token of a sign-in with GitHub, and the lock that makes one refresh
-- of a single-use refresh token at a time.

-- name: SetGitHubIdentityToken :exec
UPDATE github_identities
SET login = $2, token_sealed = $3, token_expires_at = sqlc.narg(token_expires_at),
    refresh_sealed = sqlc.narg(refresh_sealed), refresh_expires_at = sqlc.narg(refresh_expires_at)
WHERE user_id = $1;

-- name: LockGitHubIdentity :one
-- Holds the user's GitHub tokens until the transaction ends: GitHub
-- spends a refresh token on its first use, so two refreshes must not race.
SELECT * FROM github_identities WHERE user_id = $1 FOR UPDATE;

-- name: ClearGitHubIdentityTokens :exec
-- GitHub refused the refresh token: only a new sign-in gives new tokens.
UPDATE github_identities
SET token_sealed = NULL, token_expires_at = NULL, refresh_sealed = NULL, refresh_expires_at = NULL
WHERE user_id = $1;

-- ---------------------------------------------------------------------
-- Disk scheduling (ops): the free disk a node reports with its heartbeat.

-- name: SetNodeDiskFree :exec
UPDATE nodes SET disk_free_mib = $2 WHERE id = $1;

-- name: RecordImageDiskSize :exec
-- A node built a root disk of disk_mib from the image of the instance's
-- deployment; the largest report counts, so that no node's is undercounted.
UPDATE images SET disk_mib = sqlc.arg(disk_mib)::integer
WHERE id = (SELECT d.image_id FROM instances i JOIN deployments d ON d.id = i.deployment_id WHERE i.id = sqlc.arg(instance_id))
  AND disk_mib < sqlc.arg(disk_mib)::integer;

-- name: ListDeploymentDiskSizes :many
-- The root disk size of the image of each deployment the scheduler may
-- count (active, or with instances not yet stopped), where a node reported it.
SELECT d.id, im.disk_mib FROM deployments d JOIN images im ON im.id = d.image_id
WHERE im.disk_mib > 0 AND (d.status IN ('deploying', 'ready')
  OR EXISTS (SELECT 1 FROM instances i WHERE i.deployment_id = d.id AND i.state <> 'stopped'));

-- name: KeepWokenInstances :many
-- A deployment woken while the instances it had when it fell asleep were
-- still draining (out of the route table, their VMs not yet stopped) takes
-- them back into service instead of booting fresh ones: woken after they
-- began to retire, on a node that is ready and not drained (those keep
-- leaving). Run by the reconciler before it plans, under its lock, so that
-- no retirement of the same pass races it.
UPDATE instances i SET retiring_at = NULL, updated_at = now()
FROM deployments d, nodes n
WHERE d.id = i.deployment_id AND n.id = i.node_id
  AND i.retiring_at IS NOT NULL AND d.woken_at > i.retiring_at AND NOT d.asleep
  AND i.desired = 'running' AND i.state IN ('starting', 'healthy')
  AND n.state = 'ready' AND NOT n.drained
RETURNING i.id, i.deployment_id;
-- ---------------------------------------------------------------------
-- Direct transport (issue 7, edge hot path): instances' direct addresses
-- and the edges' source addresses nodes admit.

-- name: SetInstanceDirectAddr :execrows
-- Writes only when the address changed: nodes send it with every report.
UPDATE instances SET direct_addr = sqlc.arg(direct_addr)::text
WHERE id = $1 AND node_id = $2 AND direct_addr IS DISTINCT FROM sqlc.arg(direct_addr)::text;

-- name: ReportEdgeDirectSource :exec
-- Writes only when the source changed: edges report it on every poll.
INSERT INTO edges (id, direct_source) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET direct_source = EXCLUDED.direct_source, reported_at = now()
WHERE edges.direct_source IS DISTINCT FROM EXCLUDED.direct_source;

-- name: ListDirectEdgeSources :many
-- The source addresses of the edges that are not removed.
SELECT DISTINCT e.direct_source FROM edges e JOIN api_tokens t ON t.id = e.id
WHERE t.kind = 'edge' AND t.revoked_at IS NULL AND e.direct_source <> ''
ORDER BY e.direct_source;

-- name: ListEdgeDirectSources :many
-- Every edge's recorded direct source, for GET /v1/edges.
SELECT id, direct_source FROM edges WHERE direct_source <> '';
