package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Scale to zero (issue 11, item 5). Edges report when they last saw a
// request for each deployment (edgeActivity, batched per edge); the
// reconciler puts deployments idle for their project's timeout to sleep
// (sleepIdle), and the scheduler then stops their instances; an edge that
// gets a request for a sleeping deployment holds it and calls edgeWake,
// after which the scheduler places instances again. Every decision is a
// single conditional statement on the database, so several edges and
// several operators agree without sharing memory.

// scaleToZeroParams checks the request's scale to zero fields; set is
// false when it has none.
func scaleToZeroParams(p db.Project, req api.UpdateProjectRequest) (db.UpdateProjectScaleToZeroParams, bool, error) {
	params := db.UpdateProjectScaleToZeroParams{ID: p.ID, ScaleToZero: p.ScaleToZero, IdleTimeoutSeconds: p.IdleTimeoutSeconds}
	if req.ScaleToZero == nil && req.IdleTimeoutSeconds == nil {
		return params, false, nil
	}
	if req.ScaleToZero != nil {
		if !api.ValidScaleToZero(*req.ScaleToZero) {
			return params, false, invalid("use previews (preview deployments only, the default), all or off",
				"invalid scale_to_zero %q", *req.ScaleToZero)
		}
		params.ScaleToZero = *req.ScaleToZero
	}
	if t := req.IdleTimeoutSeconds; t != nil {
		lo, hi := int(api.MinIdleTimeout.Seconds()), int(api.MaxIdleTimeout.Seconds())
		if *t < lo || *t > hi {
			return params, false, invalid(fmt.Sprintf("give %d to %d seconds, e.g. 300", lo, hi), "invalid idle_timeout_seconds %d", *t)
		}
		params.IdleTimeoutSeconds = int32(*t)
	}
	return params, true, nil
}

// minPerRegion is how many instances an awake deployment wants in each of
// its regions: one if it scales to zero (the project's minimum applies
// only to deployments that stay up), else the project's minimum.
func minPerRegion(p db.Project, d db.Deployment) int {
	if api.ScalesToZero(p.ScaleToZero, d.Preview) {
		return 1
	}
	return int(p.MinInstancesPerRegion)
}

// asleep reports whether d wants no instances: asleep, and its project
// still scales it to zero (turning the option off wakes it).
func asleep(p db.Project, d db.Deployment) bool {
	return d.Asleep && api.ScalesToZero(p.ScaleToZero, d.Preview)
}

// sleepIdle puts idle deployments to sleep; the same pass's plan stops
// their instances. Run by the reconciler, under its lock.
func (o *Operator) sleepIdle(ctx context.Context) error {
	slept, err := o.store.SleepIdleDeployments(ctx)
	if err != nil {
		return fmt.Errorf("scale idle deployments to zero: %w", err)
	}
	for _, d := range slept {
		o.metrics.sleeps.Inc()
		o.event(ctx, d, "asleep", "no requests for the idle timeout; instances stop until the next request wakes the deployment")
	}
	return nil
}

// keepWokenInstances takes back into service the draining instances of
// deployments woken before their VMs stopped, so that a wake during the
// drain does not place a fresh instance (a cold start) while the warm one
// is stopped. Run by the reconciler before it plans. A wake that comes
// after a pass decided to stop them (past the drain period) is too late:
// the next pass places a fresh instance.
func (o *Operator) keepWokenInstances(ctx context.Context) error {
	kept, err := o.store.KeepWokenInstances(ctx)
	if err != nil {
		return fmt.Errorf("keep draining instances of woken deployments: %w", err)
	}
	for _, in := range kept {
		o.log.Info("woken during its drain: instance back in service", "deployment", in.DeploymentID, "instance", in.ID)
	}
	return nil
}

// edgeActivity records an edge's report of the last request per deployment.
func (o *Operator) edgeActivity(w http.ResponseWriter, r *http.Request) error {
	var req api.EdgeActivity
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Deployments) > api.MaxActivityBatch {
		return invalid("send smaller batches", "too many deployments in one report: %d (at most %d)", len(req.Deployments), api.MaxActivityBatch)
	}
	params := db.RecordDeploymentActivityParams{Slugs: []string{}, Ats: []time.Time{}}
	for _, a := range req.Deployments {
		params.Slugs = append(params.Slugs, a.Deployment)
		params.Ats = append(params.Ats, a.LastRequest)
	}
	if _, err := o.store.RecordDeploymentActivity(r.Context(), params); err != nil {
		return fmt.Errorf("record deployment activity: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// edgeWake wakes a sleeping deployment for an edge that holds requests for
// it. Any number of calls, from any edge to any operator, wake it once:
// only the call whose update found it asleep counts (Woke).
func (o *Operator) edgeWake(w http.ResponseWriter, r *http.Request) error {
	var req api.WakeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := o.store.WakeDeployment(ctx, req.Deployment)
	if err == nil {
		o.metrics.wakes.Inc()
		o.event(ctx, d, "woken", "a request arrived; starting instances")
		o.hub.Bump()
		writeJSON(w, http.StatusOK, api.WakeResponse{Deployment: d.Slug, Woke: true})
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("wake deployment %s: %w", req.Deployment, err)
	}
	d, err = o.store.GetDeploymentBySlug(ctx, req.Deployment)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("", "deployment %q not found", req.Deployment)
	}
	if err != nil {
		return err
	}
	if d.Status != api.StatusReady && d.Status != api.StatusDeploying {
		return conflict("deploy again", "deployment %s is %s and cannot be woken", d.Slug, d.Status)
	}
	writeJSON(w, http.StatusOK, api.WakeResponse{Deployment: d.Slug})
	return nil
}

// lastRequest is when edges last reported a request for d, if ever.
func (o *Operator) lastRequest(ctx context.Context, d db.Deployment) *time.Time {
	t, err := o.store.GetDeploymentLastRequest(ctx, d.ID)
	if err != nil {
		return nil
	}
	return &t
}
