package edge

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Waker is what the edge needs of the operator for deployments that scale
// to zero (OperatorWaker over HTTP; a fake in tests).
type Waker interface {
	// Wake asks for a sleeping deployment to be started. It is idempotent:
	// waking one that is awake does nothing.
	Wake(ctx context.Context, deployment string) error
	// ReportActivity tells when requests last arrived for deployments.
	ReportActivity(ctx context.Context, a []api.DeploymentActivity) error
}

// activity is when the edge last saw a request for one deployment that
// scales to zero. The request path stores the time (one atomic store);
// the reporter sends it on, at most every idle/reportFraction per
// deployment, so that the operator never sees a busy deployment idle, and
// a busy edge sends one small batch a second at most.
type activity struct {
	deployment string
	idle       time.Duration
	last       atomic.Int64 // unix nanoseconds of the last request
	// reported and sentAt belong to the reporter goroutine.
	reported int64
	sentAt   time.Time
}

// reportFraction: a deployment's requests are reported at least every
// idle timeout / reportFraction while they come, so that the last report
// is never older than a fraction of the timeout.
const reportFraction = 4

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

// due reports whether a's newest request should go in the next report.
func (a *activity) due(now time.Time) (int64, bool) {
	last := a.last.Load()
	return last, last > a.reported && now.Sub(a.sentAt) >= a.idle/reportFraction
}

// activityFor returns the activity of a scale-to-zero route's deployment
// for the table being built, keeping the current one's (under e.mu).
func (e *Edge) activityFor(next map[string]*activity, deployment string, idleSeconds int) *activity {
	if a := next[deployment]; a != nil {
		return a
	}
	a := e.activities[deployment]
	if a == nil {
		a = &activity{deployment: deployment}
	}
	a.idle = time.Duration(idleSeconds) * time.Second
	next[deployment] = a
	return a
}

// reportLoop sends the activity that is due every cfg.ActivityEvery.
func (e *Edge) reportLoop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.ActivityEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			e.reportActivity(ctx, now)
		}
	}
}

// reportActivity sends one batch of the deployments that had requests
// since their last report and are due; a failed batch is sent again later.
func (e *Edge) reportActivity(ctx context.Context, now time.Time) {
	e.mu.Lock()
	as := make([]*activity, 0, len(e.activities))
	for _, a := range e.activities {
		as = append(as, a)
	}
	e.mu.Unlock()
	var batch []api.DeploymentActivity
	var sent []*activity
	var times []int64
	for _, a := range as {
		if last, ok := a.due(now); ok {
			batch = append(batch, api.DeploymentActivity{Deployment: a.deployment, LastRequest: time.Unix(0, last).UTC()})
			sent, times = append(sent, a), append(times, last)
		}
		if len(batch) == api.MaxActivityBatch {
			break // the rest next time
		}
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.cfg.Wake.ReportActivity(ctx, batch); err != nil {
		e.log.Warn("edge: report deployment activity; retrying", "err", err, "deployments", len(batch))
		return
	}
	for i, a := range sent {
		a.reported, a.sentAt = times[i], now
	}
}
