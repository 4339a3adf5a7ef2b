package operator

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// rollback deploys again the exact image (by digest) of an earlier
// deployment. A replaced deployment's VMs are gone after its drain, so a
// rollback boots new instances; the project URL moves back once they are
// healthy, with the same zero-downtime rule as any deploy.
func (o *Operator) rollback(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var req api.RollbackRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	deps, err := o.store.ListDeployments(r.Context(), db.ListDeploymentsParams{ProjectID: p.ID, Limit: 100})
	if err != nil {
		return err
	}
	var target *db.Deployment
	for i, d := range deps {
		isLive := p.LiveDeploymentID.Valid && p.LiveDeploymentID.UUID == d.ID
		switch {
		case req.Deployment != "" && d.Slug == req.Deployment:
			target = &deps[i]
		case req.Deployment == "" && target == nil && !isLive && !d.Preview && d.ReadyAt != nil:
			target = &deps[i]
		}
	}
	if target == nil {
		if req.Deployment != "" {
			return notFound("list them with `zeitwork deployments list "+p.Name+"`", "deployment %q not found in project %s", req.Deployment, p.Name)
		}
		return &apiError{http.StatusConflict, "no earlier deployment of " + p.Name + " was ever ready", "name one with --to; list them with `zeitwork deployments list " + p.Name + "`"}
	}
	ref, ok := o.pinnedRef(r.Context(), *target)
	if !ok {
		return conflict("choose a deployment whose image was found", "deployment %s never resolved its image", target.Slug)
	}
	d, err := o.store.CreateDeployment(r.Context(), db.CreateDeploymentParams{
		ID: uuid.New(), Slug: newSlug(), ProjectID: p.ID, ImageRef: ref,
	})
	if err != nil {
		return err
	}
	o.event(r.Context(), d, "created", "rollback to deployment "+target.Slug+" ("+ref+")")
	o.hub.Bump()
	writeJSON(w, http.StatusCreated, o.deploymentJSON(p, d))
	return nil
}
