package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/operator/lifecycle"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Deleting a project is immediate, like `fly apps destroy`: in one
// transaction its running deployments are stopped (lifecycle.Stop, the
// transition a user's stop takes), its queued and running builds are
// cancelled (buildstate.Cancel), and the project row is deleted, which
// takes its deployments, instances, builds, env vars, build args, registry
// login and GitHub link with it. Nothing has to wait for the nodes: a
// node's desired state is the whole truth about what it runs, and an
// agent stops every VM that is no longer listed (also after a restart or a
// partition). Edges drop the project's hosts with the next route table,
// and the name is free again at once. The audit log keeps its entries.

// deleteProject is DELETE /v1/projects/{project}.
func (o *Operator) deleteProject(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	out, builds, err := o.removeProject(r.Context(), p)
	if err != nil {
		return err
	}
	for _, b := range builds {
		o.builds.stop(b.ID, errBuildCancelled)
	}
	o.hub.Bump()
	if err := o.registry.DeleteRepository(p.Name); err != nil {
		// The project is gone; a repository left behind is refused to
		// everyone but a new project of the same name, which may reuse it.
		o.log.Error("delete the project's registry repository", "project", p.Name, "err", err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeProject stops, cancels and deletes in one transaction, tried again
// if a deployment or build moved while it ran (the reconciler promotes,
// builders finish). It returns the builds it cancelled.
func (o *Operator) removeProject(ctx context.Context, p db.Project) (api.DeletedProject, []db.Build, error) {
	out := api.DeletedProject{Name: p.Name}
	var cancelled []db.Build
	for attempt := 0; ; attempt++ {
		out.StoppedDeployments, cancelled = 0, nil
		err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
			// Locked, the project gets no new deployment or build meanwhile.
			if _, err := q.LockProject(ctx, p.ID); err != nil {
				return err
			}
			ds, err := q.ListProjectRunningDeployments(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, d := range ds {
				if _, err := transition(ctx, q, d, lifecycle.Stop, "project "+p.Name+" deleted"); err != nil {
					return err
				}
			}
			bs, err := q.ListProjectRunningBuilds(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, b := range bs {
				if _, err := o.transitionBuild(ctx, q, b, buildstate.Cancel, "project "+p.Name+" deleted", "", false); err != nil {
					return err
				}
			}
			if _, err := q.DeleteProject(ctx, p.ID); err != nil {
				return fmt.Errorf("delete project %s: %w", p.Name, err)
			}
			out.StoppedDeployments, cancelled = len(ds), bs
			return nil
		})
		retry := isLost(err) || isBuildLost(err) || isDeadlock(err)
		if retry && attempt < 3 {
			continue
		}
		if retry {
			return out, nil, conflict("run the command again", "project %s kept changing while it was deleted", p.Name)
		}
		out.CancelledBuilds = len(cancelled)
		return out, cancelled, err
	}
}

// isDeadlock reports whether PostgreSQL aborted the transaction to break
// a deadlock: a promotion locks a deployment, then its project; a deletion
// the project, then its deployments.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// deleteOrg is DELETE /v1/orgs/{org}: only an empty organisation is
// deleted, so that deleting an organisation never deletes projects by
// surprise. Its memberships, invitations and the tokens tied to it end at
// once; its members keep their accounts and their other organisations.
func (o *Operator) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pr := principalFrom(ctx)
	name := r.PathValue("org")
	auditFrom(ctx).setObject("organisation", name)
	if name != pr.orgName {
		return notFound("name the organisation with --org "+name+" (it must be the one the request acts in); `zeitwork orgs list` shows yours",
			"organisation %q is not the one this request acts in (%s)", name, pr.orgName)
	}
	if err := o.keepsAdminAccess(ctx, pr); err != nil {
		return err
	}
	out := api.DeletedOrganisation{Name: name}
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		// Locked, the organisation gets no project or member meanwhile.
		if _, err := q.LockOrganisation(ctx, pr.orgID); err != nil {
			return err
		}
		projects, err := q.ListOrganisationProjectNames(ctx, pr.orgID)
		if err != nil {
			return err
		}
		if len(projects) > 0 {
			return conflict(fmt.Sprintf("delete its projects first: `zeitwork projects delete <name> --org %s` for %s", name, strings.Join(projects, ", ")),
				"organisation %s still has %d project(s)", name, len(projects))
		}
		ms, err := q.ListMembers(ctx, pr.orgID)
		if err != nil {
			return err
		}
		out.Members = len(ms)
		_, err = q.DeleteOrganisation(ctx, pr.orgID)
		return err
	})
	if err != nil {
		return err
	}
	o.hub.Bump()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// keepsAdminAccess refuses an installation administrator the deletion of
// an organisation that would take every token they have with it: they
// would lock themselves out of the installation.
func (o *Operator) keepsAdminAccess(ctx context.Context, pr principal) error {
	admin, err := o.store.IsInstallationAdmin(ctx, pr.userID)
	if err != nil || !admin {
		return err
	}
	n, err := o.store.CountTokensOutsideOrganisation(ctx, db.CountTokensOutsideOrganisationParams{
		UserID: nullUUID(pr.userID), OrganisationID: pr.orgID,
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return conflict("delete it with a token that outlives it: your login token (not tied to an organisation) or a token of another organisation of yours",
			"you administer this installation and every token of yours ends with organisation %s", pr.orgName)
	}
	return nil
}
