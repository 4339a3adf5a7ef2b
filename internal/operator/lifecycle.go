package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/operator/lifecycle"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// This file is the only place that changes a deployment's status. Every
// change is lifecycle.Next applied as a compare-and-set on the status the
// caller read: the resolver, the reconciler and API handlers run at the
// same time, each with its own copy, and the one that read a status which
// is no longer true gets lifecycle.ErrConflict instead of overwriting.

// transition moves d on e from d.Status, as read by the caller.
func transition(ctx context.Context, q *db.Queries, d db.Deployment, e lifecycle.Event, reason string) (db.Deployment, error) {
	to, err := lifecycle.Next(d.Status, e)
	if err != nil {
		return d, fmt.Errorf("deployment %s: %w", d.Slug, err)
	}
	moved, err := q.TransitionDeployment(ctx, db.TransitionDeploymentParams{
		ID: d.ID, FromStatus: d.Status, ToStatus: to, Reason: reason,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("%s deployment %s (was %s): %w", e, d.Slug, d.Status, lifecycle.ErrConflict)
	}
	if err != nil {
		return d, fmt.Errorf("%s deployment %s: %w", e, d.Slug, err)
	}
	return moved, nil
}

// isLost reports whether a transition did not happen because the
// deployment is no longer where the caller thought.
func isLost(err error) bool {
	return errors.Is(err, lifecycle.ErrConflict) || errors.Is(err, lifecycle.ErrNotAllowed)
}

// failDeployment fails a deploying deployment; one that was stopped or
// became ready meanwhile is left as it is.
func (o *Operator) failDeployment(ctx context.Context, d db.Deployment, kind, reason string) {
	d, err := transition(ctx, o.store.Queries, d, lifecycle.Fail, reason)
	if isLost(err) {
		o.log.Info("deployment changed before it could be failed; leaving it", "deployment", d.Slug, "err", err)
		return
	}
	if err != nil {
		o.log.Error("mark deployment failed", "deployment", d.Slug, "err", err)
		return
	}
	o.metrics.failed.WithLabelValues(kind).Inc()
	o.event(ctx, d, "failed", "deployment failed: "+reason)
	o.hub.Bump()
}

// retryDeployment records why resolving d's image will be retried; a
// deployment stopped meanwhile is not revived.
func (o *Operator) retryDeployment(ctx context.Context, d db.Deployment, reason string) {
	if _, err := transition(ctx, o.store.Queries, d, lifecycle.Retry, reason); err != nil && !isLost(err) {
		o.log.Error("record image retry", "deployment", d.Slug, "err", err)
	}
}

// resolveDeployment pins d's image, unless d stopped deploying meanwhile
// (lifecycle.ErrConflict).
func (o *Operator) resolveDeployment(ctx context.Context, d db.Deployment, image uuid.UUID) error {
	if _, err := lifecycle.Next(d.Status, lifecycle.Resolve); err != nil {
		return fmt.Errorf("deployment %s: %w", d.Slug, err)
	}
	n, err := o.store.SetDeploymentImage(ctx, db.SetDeploymentImageParams{ID: d.ID, ImageID: uuid.NullUUID{UUID: image, Valid: true}})
	if err != nil {
		return fmt.Errorf("pin image of deployment %s: %w", d.Slug, err)
	}
	if n == 0 {
		return fmt.Errorf("pin image of deployment %s: %w", d.Slug, lifecycle.ErrConflict)
	}
	return nil
}

// promote marks a deployment ready and, unless a newer deployment is
// already live, moves the project URL to it; the previous live deployment
// then drains. All of it happens in one transaction or not at all: a
// conflict (d or the live deployment changed since the caller read them)
// leaves everything as it was for the next pass to look at again.
func (o *Operator) promote(ctx context.Context, d db.Deployment) error {
	if d.Preview {
		return o.promotePreview(ctx, d)
	}
	superseded := false
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		p, err := q.GetProject(ctx, d.ProjectID)
		if err != nil {
			return err
		}
		if p.LiveDeploymentID.Valid && p.LiveDeploymentID.UUID != d.ID {
			prev, err := q.GetDeployment(ctx, p.LiveDeploymentID.UUID)
			if err != nil {
				return err
			}
			if prev.CreatedAt.After(d.CreatedAt) {
				superseded = true
				_, err := transition(ctx, q, d, lifecycle.Supersede, "superseded by newer deployment "+prev.Slug)
				return err
			}
			// A live deployment is ready; one that is not (written before
			// transitions were checked) has nothing left to stop.
			if prev.Status == lifecycle.Ready {
				if _, err := transition(ctx, q, prev, lifecycle.Replace, "replaced by deployment "+d.Slug); err != nil {
					return err
				}
			}
		}
		if _, err := transition(ctx, q, d, lifecycle.Promote, ""); err != nil {
			return err
		}
		n, err := q.GoLive(ctx, db.GoLiveParams{ProjectID: p.ID, DeploymentID: d.ID, ExpectedLive: p.LiveDeploymentID})
		if err != nil {
			return fmt.Errorf("move project URL to deployment %s: %w", d.Slug, err)
		}
		if n == 0 {
			return fmt.Errorf("move project URL to deployment %s: %w", d.Slug, lifecycle.ErrConflict)
		}
		return nil
	})
	if err != nil || superseded {
		return err
	}
	o.event(ctx, d, "ready", "all instances healthy; project URL now serves deployment "+d.Slug)
	return nil
}

// promotePreview marks a preview deployment ready. It never touches the
// project URL or the live deployment: a preview answers only at its own
// versioned URL.
func (o *Operator) promotePreview(ctx context.Context, d db.Deployment) error {
	if _, err := transition(ctx, o.store.Queries, d, lifecycle.Promote, ""); err != nil {
		return err
	}
	o.event(ctx, d, "ready", "all instances healthy; preview deployment "+d.Slug+" answers at its own URL only")
	return nil
}

// stopDeployment is the user stopping d: its instances stop and its URLs
// stop routing; a live deployment also takes the project URL down. A
// deployment already failed or stopped is returned as it is. If d changes
// while it is stopped (say it was promoted), it is read again and stopped
// from where it is now.
func (o *Operator) stopDeployment(ctx context.Context, d db.Deployment) (db.Deployment, error) {
	for attempt := 0; ; attempt++ {
		if lifecycle.Final(d.Status) {
			return d, nil
		}
		stopped := d
		err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
			var err error
			if stopped, err = transition(ctx, q, d, lifecycle.Stop, "stopped by user"); err != nil {
				return err
			}
			return q.ClearLiveDeployment(ctx, db.ClearLiveDeploymentParams{ID: d.ProjectID, DeploymentID: d.ID})
		})
		if err == nil {
			o.event(ctx, stopped, "stopped", "deployment stopped by user")
			o.hub.Bump()
			return stopped, nil
		}
		if !isLost(err) || attempt == 2 {
			return d, err
		}
		if d, err = o.store.GetDeployment(ctx, d.ID); err != nil {
			return d, err
		}
	}
}
