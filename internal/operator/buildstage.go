package operator

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Stages of a build, as keys of its timings (milliseconds each): receive
// (an upload or a git push's context read and checked, until queued) or
// fetch (a GitHub build downloads its commit), extract (the context
// unpacked), build, push (to the built-in registry), push_external (the
// copy to the project's own registry, if it has one) and deploy (the
// deployment created).
const (
	stageReceive = "receive"
	stageFetch   = "fetch"
	stageExtract = "extract"
	stageBuild   = "build"
	stagePush    = build.StagePush
	// stagePushExternal copies the image to the project's own registry.
	stagePushExternal = "push_external"
	stageDeploy       = "deploy"
)

// buildRun is one claimed build as this replica runs it: the row as last
// written under its claim (so that the next compare-and-set starts from
// the status it really has) and the time spent in each stage so far. The
// Builder reports its stages from its own goroutine, hence the lock.
type buildRun struct {
	o     *Operator
	ctx   context.Context
	owner string

	mu      sync.Mutex
	b       db.Build
	timings map[string]int64
	stage   string
	since   time.Time
}

// newBuildRun starts from the timings the build has (its receive stage).
func (o *Operator) newBuildRun(ctx context.Context, b db.Build, owner string) *buildRun {
	timings := map[string]int64{}
	json.Unmarshal(b.Timings, &timings)
	return &buildRun{o: o, ctx: ctx, owner: owner, b: b, timings: timings}
}

// build is the row as last written.
func (r *buildRun) build() db.Build {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b
}

// enter ends the current stage, records its time and starts name; the
// timings are stored at once, so that `zeitwork builds show` follows a
// running build. Entering the push stage moves the build to pushing.
func (r *buildRun) enter(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked()
	r.stage, r.since = name, time.Now()
	if name == stagePush && r.b.Status == buildstate.Building {
		moved, err := r.o.transitionBuild(r.ctx, r.o.store.Queries, r.b, buildstate.Push, "", r.owner, false)
		if err != nil {
			if !isBuildLost(err) {
				r.o.log.Warn("mark build pushing", "build", r.b.ID, "err", err)
			}
		} else {
			r.b.Status = moved.Status
			r.o.buildLog(r.ctx, r.b.ID, "zeitwork: pushing the image to the registry")
		}
	}
	r.storeLocked()
}

// end ends the current stage and returns a copy of all timings.
func (r *buildRun) end() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked()
	out := make(map[string]int64, len(r.timings))
	for k, v := range r.timings {
		out[k] = v
	}
	return out
}

// report takes the backend's own timings of stages it times more
// precisely than the operator can (buildah's build excludes its sandbox
// set-up).
func (r *buildRun) report(t map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range t {
		r.timings[k] = v
	}
}

func (r *buildRun) endLocked() {
	if r.stage != "" {
		r.timings[r.stage] = time.Since(r.since).Milliseconds()
		r.stage = ""
	}
}

func (r *buildRun) storeLocked() {
	tj, err := json.Marshal(r.timings)
	if err != nil {
		return
	}
	err = r.o.store.SetRunningBuildTimings(context.WithoutCancel(r.ctx), db.SetRunningBuildTimingsParams{ID: r.b.ID, Timings: tj, Owner: r.owner})
	if err != nil {
		r.o.log.Warn("store build timings", "build", r.b.ID, "err", err)
	}
}

// store writes the timings as they stand.
func (r *buildRun) store() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked()
	r.storeLocked()
}
