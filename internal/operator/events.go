package operator

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/store/db"
)

// event records something users should see in a deployment's history; it
// is best effort, so a failure is logged and never fails the caller. It is
// written even when ctx has ended: what it records has happened (a build's
// context ends as the build finishes, a request's when its client leaves
// right after the answer), and the history must not miss it.
func (o *Operator) event(ctx context.Context, d db.Deployment, kind, msg string) {
	o.instanceEvent(ctx, d, uuid.Nil, kind, msg)
}

func (o *Operator) instanceEvent(ctx context.Context, d db.Deployment, instance uuid.UUID, kind, msg string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := o.store.AddEvent(ctx, db.AddEventParams{
		ProjectID:    uuid.NullUUID{UUID: d.ProjectID, Valid: true},
		DeploymentID: uuid.NullUUID{UUID: d.ID, Valid: true},
		InstanceID:   uuid.NullUUID{UUID: instance, Valid: instance != uuid.Nil},
		Kind:         kind, Message: msg,
	})
	if err != nil {
		o.log.Warn("record event", "deployment", d.Slug, "err", err)
	}
	o.log.Info(msg, "deployment", d.Slug, "event", kind)
}
