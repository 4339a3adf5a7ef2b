package operator

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The build queue lives in PostgreSQL: every replica with a Builder claims
// queued builds (FOR UPDATE SKIP LOCKED, so a build is claimed once) up to
// its BuildConcurrency, and holds each under a lease it renews. A replica
// that dies stops renewing; any replica then puts the build back in the
// queue once, or fails it the second time. A status change by anyone else
// (the user cancelling through another replica, recovery) reaches the
// runner through the hub (builds' status changes NOTIFY) or, at the
// latest, when its next renewal finds the build no longer its own; either
// cancels the context passed to Builder.Build.

func (c *Config) buildDefaults() {
	if c.BuildConcurrency <= 0 {
		c.BuildConcurrency = 1
	}
	if c.BuildTimeout <= 0 {
		c.BuildTimeout = 15 * time.Minute
	}
	if c.BuildLease <= 0 {
		c.BuildLease = 30 * time.Second
	}
	if c.BuildContextMaxBytes <= 0 {
		c.BuildContextMaxBytes = 100 << 20
	}
	if c.BuildLogMaxLines <= 0 {
		c.BuildLogMaxLines = 10000
	}
}

// Causes of a running build's context ending early.
var (
	errBuildCancelled = errors.New("build cancelled")
	errLeaseLost      = errors.New("build lease lost")
)

// buildWorkers are the builds this replica runs, by id, with the claim
// token each runs under and the function that stops it.
type buildWorkers struct {
	mu      sync.Mutex
	running map[uuid.UUID]runningBuild
}

type runningBuild struct {
	owner  string
	cancel context.CancelCauseFunc
	// pushToken lets the builder push to (and pull base images from) the
	// built-in registry, as a user of org would; it is valid while the
	// build runs on this replica, whose registry it pushes to.
	pushToken string
	org       uuid.UUID
}

// pushOrg returns the organisation whose running build holds token.
func (w *buildWorkers) pushOrg(token string) (uuid.UUID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rb := range w.running {
		if rb.pushToken != "" && subtle.ConstantTimeCompare([]byte(rb.pushToken), []byte(token)) == 1 {
			return rb.org, true
		}
	}
	return uuid.Nil, false
}

// revokePush ends a build's push token once its Builder has returned:
// nothing may use it after the push, even before the build's bookkeeping
// is over.
func (w *buildWorkers) revokePush(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rb, ok := w.running[id]; ok {
		rb.pushToken = ""
		w.running[id] = rb
	}
}

func (w *buildWorkers) get(id uuid.UUID) runningBuild {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[id]
}

func newBuildWorkers() *buildWorkers {
	return &buildWorkers{running: map[uuid.UUID]runningBuild{}}
}

func (w *buildWorkers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *buildWorkers) add(id uuid.UUID, rb runningBuild) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[id] = rb
}

func (w *buildWorkers) remove(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, id)
}

// stop cancels a build if this replica runs it.
func (w *buildWorkers) stop(id uuid.UUID, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rb, ok := w.running[id]; ok {
		rb.cancel(cause)
	}
}

func (w *buildWorkers) snapshot() map[uuid.UUID]runningBuild {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[uuid.UUID]runningBuild, len(w.running))
	for id, rb := range w.running {
		out[id] = rb
	}
	return out
}

// buildLoop recovers expired builds, notices builds stopped elsewhere and
// claims queued ones, on every change and every third of a lease.
func (o *Operator) buildLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(o.cfg.BuildLease / 3)
	defer tick.Stop()
	for {
		_, changed := o.hub.Version()
		o.recoverBuilds(ctx)
		o.stopLostBuilds(ctx)
		o.claimBuilds(ctx, &wg)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

func (o *Operator) claimBuilds(ctx context.Context, wg *sync.WaitGroup) {
	for ctx.Err() == nil && o.builds.count() < o.cfg.BuildConcurrency {
		owner := o.id + "/" + randomHex(6)
		b, err := o.store.ClaimBuild(ctx, db.ClaimBuildParams{Owner: owner, LeaseSeconds: o.cfg.BuildLease.Seconds()})
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				o.log.Error("claim build", "err", err)
			}
			return
		}
		p, err := o.store.GetProject(ctx, b.ProjectID)
		if err != nil {
			o.log.Error("claim build", "build", b.ID, "err", err)
			return // the lease expires and the build is retried
		}
		// The builder pushes to RegistryHost, which may be another
		// replica: the token's hash goes to the database for it.
		push := "zwb_" + randomHex(32)
		if err := o.store.SetBuildPushToken(ctx, db.SetBuildPushTokenParams{ID: b.ID, PushTokenHash: hashToken(push)}); err != nil {
			o.log.Error("claim build", "build", b.ID, "err", err)
			return // the lease expires and the build is retried
		}
		bctx, cancel := context.WithCancelCause(ctx)
		o.builds.add(b.ID, runningBuild{owner: owner, cancel: cancel, pushToken: push, org: p.OrganisationID})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.builds.remove(b.ID)
			defer cancel(nil)
			go o.keepLease(bctx, cancel, b.ID, owner)
			o.runBuild(bctx, b, owner)
		}()
	}
}

// keepLease renews the build's lease until ctx ends; a renewal that finds
// the build no longer ours stops it.
func (o *Operator) keepLease(ctx context.Context, cancel context.CancelCauseFunc, id uuid.UUID, owner string) {
	tick := time.NewTicker(o.cfg.BuildLease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := o.store.RenewBuildLease(ctx, db.RenewBuildLeaseParams{ID: id, Owner: owner, LeaseSeconds: o.cfg.BuildLease.Seconds()})
		if errors.Is(err, pgx.ErrNoRows) {
			cancel(errLeaseLost)
			return
		}
		if err != nil && ctx.Err() == nil {
			o.log.Warn("renew build lease", "build", id, "err", err)
		}
	}
}

// stopLostBuilds cancels the builds this replica runs whose row says they
// are no longer its own: cancelled by a user through any replica (or
// deleted with their project), or taken back by recovery.
func (o *Operator) stopLostBuilds(ctx context.Context) {
	for id, rb := range o.builds.snapshot() {
		b, err := o.store.GetBuild(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			rb.cancel(errBuildCancelled) // deleted with its project
			continue
		}
		if err != nil {
			continue
		}
		switch {
		case b.Status == buildstate.Cancelled:
			rb.cancel(errBuildCancelled)
		case !buildstate.Running(b.Status) || b.LeaseOwner != rb.owner:
			rb.cancel(errLeaseLost)
		}
	}
}

// recoverBuilds requeues or fails builds whose replica stopped renewing
// their lease (OnExpiry): a build is never left building forever.
func (o *Operator) recoverBuilds(ctx context.Context) {
	expired, err := o.store.ListExpiredBuilds(ctx)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Error("list expired builds", "err", err)
		}
		return
	}
	for _, b := range expired {
		e := buildstate.OnExpiry(int(b.Attempts))
		reason := "the operator running this build stopped; it is queued again"
		if e == buildstate.Fail {
			reason = fmt.Sprintf("the operator running this build stopped %d times; it is not retried again", b.Attempts)
		}
		_, err := o.transitionBuild(ctx, o.store.Queries, b, e, reason, "", true)
		if err != nil {
			if !isBuildLost(err) {
				o.log.Error("recover build", "build", b.ID, "err", err)
			}
			continue
		}
		o.log.Warn("build lease expired", "build", b.ID, "event", e)
		o.buildLog(ctx, b.ID, "zeitwork: "+reason)
	}
}

// transitionBuild moves b on e from b.Status, as read by the caller; owner
// (if set) must still hold the build, and onlyExpired requires its lease to
// have expired. A build reaching a final status loses its context archive.
func (o *Operator) transitionBuild(ctx context.Context, q *db.Queries, b db.Build, e buildstate.Event, reason, owner string, onlyExpired bool) (db.Build, error) {
	to, err := buildstate.Next(b.Status, e)
	if err != nil {
		return b, fmt.Errorf("build %s: %w", b.ID, err)
	}
	moved, err := q.TransitionBuild(ctx, db.TransitionBuildParams{
		ID: b.ID, FromStatus: b.Status, ToStatus: to, Reason: reason, Owner: owner, OnlyExpired: onlyExpired,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("%s build %s (was %s): %w", e, b.ID, b.Status, buildstate.ErrConflict)
	}
	if err != nil {
		return b, fmt.Errorf("%s build %s: %w", e, b.ID, err)
	}
	if buildstate.Final(to) {
		if err := q.DeleteBuildContext(ctx, b.ID); err != nil {
			o.log.Warn("delete build context", "build", b.ID, "err", err)
		}
	}
	o.hub.Bump()
	return moved, nil
}

func isBuildLost(err error) bool {
	return errors.Is(err, buildstate.ErrConflict) || errors.Is(err, buildstate.ErrNotAllowed)
}
