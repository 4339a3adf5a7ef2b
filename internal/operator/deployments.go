package operator

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

var slugEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSlug returns the 8-character id of a deployment's versioned URL.
func newSlug() string {
	b := make([]byte, 5)
	rand.Read(b)
	return slugEncoding.EncodeToString(b)
}

func (o *Operator) createDeployment(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var req api.CreateDeploymentRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if _, err := name.ParseReference(req.Image); err != nil || req.Image == "" {
		return invalid("give a registry reference such as registry.example.com/app:v1; "+
			"`zeitwork deploy --image ./dir` pushes a local OCI layout or archive first",
			"invalid image reference %q", req.Image)
	}
	if err := o.checkImageSource(r.Context(), p.OrganisationID, req.Image); err != nil {
		return err
	}
	if err := o.checkImageScope(r, req.Image); err != nil {
		return err
	}
	d, err := o.insertDeployment(r.Context(), o.store.Queries, p, req.Image, false)
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("deployment", d.Slug)
	o.event(r.Context(), d, "created", "deployment created from image "+req.Image)
	o.hub.Bump()
	writeJSON(w, http.StatusCreated, o.deploymentJSON(p, d))
	return nil
}

// insertDeployment creates a deploying deployment of ref, checked by the
// caller; the reconciler takes it from there. A preview deployment is
// never promoted to the project URL (promote).
func (o *Operator) insertDeployment(ctx context.Context, q *db.Queries, p db.Project, ref string, preview bool) (db.Deployment, error) {
	return q.CreateBuiltDeployment(ctx, db.CreateBuiltDeploymentParams{
		ID: uuid.New(), Slug: newSlug(), ProjectID: p.ID, ImageRef: ref, Preview: preview,
	})
}

func (o *Operator) listDeployments(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	ds, err := o.store.ListDeployments(r.Context(), db.ListDeploymentsParams{ProjectID: p.ID, Limit: limit})
	if err != nil {
		return err
	}
	out := []api.Deployment{}
	for _, d := range ds {
		out = append(out, o.deploymentJSON(p, d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deployment loads the {deployment} of the path: its short id, or
// "<id>--<project>" as in its URL, within the caller's organisation.
// Another organisation's deployment is "not found", like a missing one.
func (o *Operator) deployment(r *http.Request) (db.Project, db.Deployment, error) {
	ref := r.PathValue("deployment")
	slug, project, ok := api.ParseVersionedLabel(ref)
	if !ok {
		slug = ref
	}
	missing := &apiError{http.StatusNotFound, "deployment " + strconv.Quote(ref) + " not found",
		"list deployments with `zeitwork status`"}
	if !api.IsSlug(slug) {
		return db.Project{}, db.Deployment{}, missing
	}
	d, err := o.store.GetDeploymentBySlug(r.Context(), slug)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return db.Project{}, d, missing
		}
		return db.Project{}, d, err
	}
	p, err := o.store.GetProject(r.Context(), d.ProjectID)
	if err != nil {
		return p, d, err
	}
	if p.OrganisationID != principalFrom(r.Context()).orgID || (ok && project != p.Name) {
		return p, d, missing
	}
	auditProject(r.Context(), p)
	if err := checkProjectScope(r, p); err != nil {
		return p, d, err
	}
	return p, d, nil
}

func (o *Operator) getDeployment(w http.ResponseWriter, r *http.Request) error {
	p, d, err := o.deployment(r)
	if err != nil {
		return err
	}
	out := o.deploymentJSON(p, d)
	out.LastRequest = o.lastRequest(r.Context(), d)
	ins, err := o.store.ListInstancesByDeployment(r.Context(), d.ID)
	if err != nil {
		return err
	}
	usage, err := o.store.ListInstanceUsageByDeployment(r.Context(), d.ID)
	if err != nil {
		return err
	}
	for _, in := range ins {
		out.Instances = append(out.Instances, withUsage(instanceJSON(in), in.ID, usage))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteDeployment stops a deployment: its instances are stopped and its
// URLs stop routing. A live deployment also takes the project URL down.
func (o *Operator) deleteDeployment(w http.ResponseWriter, r *http.Request) error {
	p, d, err := o.deployment(r)
	if err != nil {
		return err
	}
	d, err = o.stopDeployment(r.Context(), d)
	if isLost(err) {
		return conflict("run the command again", "deployment %s kept changing while it was stopped", d.Slug)
	}
	if err != nil {
		return err
	}
	if p, err = o.store.GetProject(r.Context(), p.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.deploymentJSON(p, d))
	return nil
}

func (o *Operator) deploymentJSON(p db.Project, d db.Deployment) api.Deployment {
	return api.Deployment{
		ID: d.Slug, Project: p.Name, Image: d.ImageRef, Status: d.Status, Reason: d.StatusReason,
		Live: p.LiveDeploymentID.Valid && p.LiveDeploymentID.UUID == d.ID, Preview: d.Preview,
		URL: o.appURL(api.VersionedLabel(p.Name, d.Slug)), CreatedAt: d.CreatedAt, ReadyAt: d.ReadyAt,
		ScalesToZero: api.ScalesToZero(p.ScaleToZero, d.Preview), Asleep: asleep(p, d),
	}
}

func instanceJSON(in db.Instance) api.Instance {
	out := api.Instance{
		ID: in.ID.String(), Region: in.RegionID, Desired: in.Desired, State: in.State,
		Reason: in.Reason, Address: in.Address, Restarts: int(in.Restarts), UpdatedAt: in.UpdatedAt,
	}
	if in.NodeID.Valid {
		out.Node = in.NodeID.UUID.String()
	}
	json.Unmarshal(in.Timings, &out.BootTimings)
	return out
}

// pageLimit is a listing's ?limit=: 50 when absent, 1 to 500 when asked
// for; anything else is refused rather than quietly answered with 50.
func pageLimit(r *http.Request) (int32, error) {
	n, err := queryInt(r, "limit", 50, 1, 500)
	return int32(n), err
}

// queryInt reads the integer query parameter name: def when absent, 400
// when it is not a whole number from lo to hi.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, invalid(fmt.Sprintf("give %s as a whole number from %d to %d", name, lo, hi), "invalid %s %q", name, s)
	}
	return n, nil
}
