package operator

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/scheduler"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// shortfallMessage is the one line users read about an under-served region.
func shortfallMessage(sf scheduler.Shortfall) string {
	return fmt.Sprintf("region %s: %d of %d instances: %s", sf.Region, sf.Have, sf.Want, sf.Reason)
}

// underServed plans from the current state, as the reconciler does, and
// returns the regions where the given projects' active deployments are
// short. The scheduler is pure and fast (docs/benchmarks.md), so the
// answer is computed on each call rather than stored by whichever replica
// reconciles.
func (o *Operator) underServed(ctx context.Context, projects []db.Project) ([]api.UnderServed, error) {
	deps, err := o.store.ListActiveDeployments(ctx)
	if err != nil {
		return nil, err
	}
	state, err := o.snapshot(ctx, deps)
	if err != nil {
		return nil, err
	}
	plan := scheduler.Schedule(state)
	if len(plan.Shortfalls) == 0 {
		return nil, nil
	}
	ours := map[uuid.UUID]db.Project{}
	for _, p := range projects {
		ours[p.ID] = p
	}
	byID := map[string]db.Deployment{}
	for _, d := range deps {
		byID[d.ID.String()] = d
	}
	var out []api.UnderServed
	for _, sf := range plan.Shortfalls {
		d := byID[sf.DeploymentID]
		p, ok := ours[d.ProjectID]
		if !ok {
			continue
		}
		out = append(out, api.UnderServed{
			Project: p.Name, Deployment: d.Slug, Region: sf.Region, Have: sf.Have, Want: sf.Want,
			Reason: sf.Reason, Message: shortfallMessage(sf),
		})
	}
	return out, nil
}
