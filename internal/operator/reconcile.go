package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/scheduler"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

func (o *Operator) reconcileLoop(ctx context.Context) error {
	tick := time.NewTicker(o.cfg.Resync)
	defer tick.Stop()
	for {
		_, changed := o.hub.Version()
		if err := o.reconcileLocked(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// reconcileLocked runs a pass if no other replica is running one: the
// replica holding reconcileLock decides, the others serve the API.
func (o *Operator) reconcileLocked(ctx context.Context) error {
	_, err := o.exclusively(ctx, reconcileLock, func(ctx context.Context) error {
		start := time.Now()
		err := o.Reconcile(ctx)
		o.metrics.reconcile.Observe(time.Since(start).Seconds())
		return err
	})
	return err
}

// Reconcile runs one pass: notices dead nodes, resolves images, applies the
// scheduler's plan and moves project URLs to deployments that became ready.
func (o *Operator) Reconcile(ctx context.Context) error {
	if err := o.markDeadNodes(ctx); err != nil {
		return err
	}
	if err := o.sleepIdle(ctx); err != nil {
		return err
	}
	if err := o.keepWokenInstances(ctx); err != nil {
		return err
	}
	deps, err := o.store.ListActiveDeployments(ctx)
	if err != nil {
		return err
	}
	state, err := o.snapshot(ctx, deps)
	if err != nil {
		return err
	}
	draining, err := o.store.ListDrainingDeployments(ctx, o.cfg.Drain.Seconds())
	if err != nil {
		return err
	}
	for _, d := range draining {
		state.Deployments = append(state.Deployments, scheduler.Deployment{ID: d.ID.String(), Draining: true})
	}
	plan := scheduler.Schedule(state)
	for _, d := range deps {
		if d.Status == api.StatusDeploying && !d.ImageID.Valid {
			o.resolver.start(context.WithoutCancel(ctx), d)
		}
		switch {
		case d.Status != api.StatusDeploying:
		case d.FailedPermanently || int(d.Failures) >= o.cfg.MaxFailures:
			o.failDeployment(ctx, d, failInstance, d.StatusReason)
		case time.Since(d.CreatedAt) > o.cfg.DeployTimeout:
			o.failDeployment(ctx, d, failTimeout, fmt.Sprintf("no healthy instances after %s (%s)", o.cfg.DeployTimeout, o.waitingFor(ctx, d, state, plan)))
		}
	}
	if err := o.applyPlan(ctx, plan); err != nil {
		return err
	}
	if err := o.store.StopUnplacedInstances(ctx); err != nil {
		return err
	}
	// d may be stale by now (failed above, or stopped by its user): the
	// promotion is a compare-and-set and then does nothing.
	for _, d := range deps {
		if d.Status == api.StatusDeploying && scheduler.Ready(state, plan, d.ID.String()) {
			err := o.promote(ctx, d)
			if isLost(err) {
				o.log.Info("deployment changed before it could be promoted; leaving it", "deployment", d.Slug, "err", err)
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// markDeadNodes marks nodes past their grace down and their instances lost
// in one transaction: a node marked down is never looked at again, so its
// instances must be lost with it or not at all.
func (o *Operator) markDeadNodes(ctx context.Context) error {
	lost := map[uuid.UUID]int{}
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		clear(lost)
		down, err := q.MarkStaleNodesDown(ctx, o.cfg.NodeGrace.Seconds())
		if err != nil {
			return err
		}
		for _, n := range down {
			ins, err := q.MarkNodeInstancesLost(ctx, uuid.NullUUID{UUID: n.ID, Valid: true})
			if err != nil {
				return err
			}
			lost[n.ID] = len(ins)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark dead nodes: %w", err)
	}
	for id, n := range lost {
		o.log.Warn("node stopped heartbeating; rescheduling its instances", "node", id, "instances", n)
	}
	return nil
}

// snapshot reads what the scheduler plans from.
func (o *Operator) snapshot(ctx context.Context, deps []db.Deployment) (scheduler.State, error) {
	s := scheduler.State{CPUOvercommit: o.cfg.CPUOvercommit, DiskReserveMiB: max(o.cfg.DiskReserveMiB, 0)}
	nodes, err := o.store.ListNodes(ctx)
	if err != nil {
		return s, err
	}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, schedulerNode(n))
	}
	disk, err := o.diskSizes(ctx)
	if err != nil {
		return s, err
	}
	projects := map[uuid.UUID]db.Project{}
	for _, d := range deps {
		p, ok := projects[d.ProjectID]
		if !ok {
			if p, err = o.store.GetProject(ctx, d.ProjectID); err != nil {
				return s, err
			}
			projects[d.ProjectID] = p
		}
		s.Deployments = append(s.Deployments, scheduler.Deployment{
			ID: d.ID.String(), Active: d.ImageID.Valid, MinPerRegion: minPerRegion(p, d), Asleep: asleep(p, d),
			Regions: p.Regions, VCPUs: int(p.Vcpus), MemoryMiB: int(p.MemoryMib), DiskMiB: disk(d.ID),
		})
	}
	instances, err := o.store.ListPlacementInstances(ctx, o.cfg.Drain.Seconds())
	if err != nil {
		return s, err
	}
	for _, in := range instances {
		s.Instances = append(s.Instances, scheduler.Instance{
			ID: in.ID.String(), DeploymentID: in.DeploymentID.String(), Region: in.RegionID,
			NodeID: in.NodeID.UUID.String(), Running: in.Desired == "running", Healthy: in.State == api.InstanceHealthy,
			Retiring: in.Retiring, Retired: in.Retired, VCPUs: int(in.Vcpus), MemoryMiB: int(in.MemoryMib),
			DiskMiB: disk(in.DeploymentID), Pending: in.State == api.InstancePending,
		})
	}
	return s, nil
}

func schedulerNode(n db.Node) scheduler.Node {
	return scheduler.Node{
		ID: n.ID.String(), Region: n.RegionID, Ready: n.State == "ready", Drained: n.Drained,
		VCPUs: int(n.Vcpus), MemoryMiB: int(n.MemoryMib), DiskMiB: int(n.DiskGib) << 10,
		DiskFreeMiB: int(n.DiskFreeMib.Int32), DiskReported: n.DiskFreeMib.Valid,
	}
}

func (o *Operator) applyPlan(ctx context.Context, plan scheduler.Plan) error {
	for _, p := range plan.Place {
		nodeID := uuid.MustParse(p.NodeID)
		if _, err := o.store.CreateInstance(ctx, db.CreateInstanceParams{
			ID: uuid.New(), DeploymentID: uuid.MustParse(p.DeploymentID), RegionID: p.Region,
			NodeID: uuid.NullUUID{UUID: nodeID, Valid: true},
		}); err != nil {
			return fmt.Errorf("place instance: %w", err)
		}
	}
	for _, id := range plan.Retire {
		if err := o.store.RetireInstance(ctx, uuid.MustParse(id)); err != nil {
			return fmt.Errorf("retire instance: %w", err)
		}
	}
	for _, s := range plan.Stop {
		if err := o.store.SetInstanceDesired(ctx, db.SetInstanceDesiredParams{
			ID: uuid.MustParse(s.InstanceID), Desired: "stopped", Reason: s.Reason,
		}); err != nil {
			return fmt.Errorf("stop instance: %w", err)
		}
	}
	return nil
}

// onInstanceChange records a node's report: an event, and for a failed
// instance of a deploying deployment one more failure. It runs in the
// report's HTTP handler, outside the reconciler's lock, so it decides
// nothing: the reconciler fails the deployment from the recorded count.
func (o *Operator) onInstanceChange(ctx context.Context, before, in db.Instance, rep api.InstanceReport) {
	d, err := o.store.GetDeployment(ctx, in.DeploymentID)
	if err != nil {
		o.log.Error("load deployment", "err", err)
		return
	}
	msg := fmt.Sprintf("instance %s: %s", in.ID.String()[:8], in.State)
	if in.Reason != "" {
		msg += ": " + in.Reason
	}
	o.instanceEvent(ctx, d, in.ID, "instance", msg)
	if in.State != api.InstanceFailed || d.Status != api.StatusDeploying {
		return
	}
	_, err = o.store.AddDeploymentFailure(ctx, db.AddDeploymentFailureParams{ID: d.ID, Permanent: rep.Permanent, StatusReason: in.Reason})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no rows: no longer deploying
		o.log.Error("count failure", "deployment", d.Slug, "err", err)
	}
}

// waitingFor explains what a deployment that is not ready waits for.
func (o *Operator) waitingFor(ctx context.Context, d db.Deployment, s scheduler.State, plan scheduler.Plan) string {
	if !d.ImageID.Valid {
		return "image not resolved: " + d.StatusReason
	}
	ready := 0
	for _, n := range s.Nodes {
		if n.Ready {
			ready++
		}
	}
	if ready == 0 {
		return "no node is ready in any region"
	}
	ins, err := o.store.ListInstancesByDeployment(ctx, d.ID)
	if err != nil {
		return err.Error()
	}
	healthy := 0
	last := ""
	for _, in := range ins {
		if in.State == api.InstanceHealthy {
			healthy++
		} else if in.Reason != "" {
			last = in.Reason
		}
	}
	out := fmt.Sprintf("%d healthy instances", healthy)
	if last != "" {
		out += "; last problem: " + last
	}
	for _, sf := range plan.Shortfalls {
		if sf.DeploymentID == d.ID.String() {
			out += "; " + shortfallMessage(sf)
		}
	}
	return out
}
