package operator

import (
	"context"
	"time"

	"github.com/zeitwork/zeitwork/internal/store/db"
)

// pruneEvery is how often old log lines and events are deleted.
const pruneEvery = time.Minute

// pruneLoop deletes log lines and events past their retention, now and then
// every pruneEvery, until ctx ends: the tables would otherwise grow for as
// long as apps log. It runs beside the reconciler, not under its lock, so
// that a large backlog never delays placements; deletes are idempotent, so
// replicas that prune at the same time only share the work.
func (o *Operator) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		o.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// prune deletes in batches of o.pruneBatch rows, each its own statement, so
// that no delete holds its locks or builds up WAL for long.
func (o *Operator) prune(ctx context.Context) {
	o.pruneSessions(ctx)
	logs := o.pruneBatches(ctx, "log lines", func(batch int32) (int64, error) {
		return o.store.PruneLogLines(ctx, db.PruneLogLinesParams{KeepSeconds: o.cfg.LogRetention.Seconds(), Batch: batch})
	})
	events := o.pruneBatches(ctx, "events", func(batch int32) (int64, error) {
		return o.store.PruneEvents(ctx, db.PruneEventsParams{KeepSeconds: o.cfg.EventRetention.Seconds(), Batch: batch})
	})
	buildLogs := o.pruneBatches(ctx, "build log lines", func(batch int32) (int64, error) {
		return o.store.PruneBuildLogLines(ctx, db.PruneBuildLogLinesParams{KeepSeconds: o.cfg.LogRetention.Seconds(), Batch: batch})
	})
	audit := o.pruneBatches(ctx, "audit log", func(batch int32) (int64, error) {
		return o.store.PruneAuditLog(ctx, db.PruneAuditLogParams{KeepSeconds: o.cfg.AuditRetention.Seconds(), Batch: batch})
	})
	edgeLogs := o.pruneBatches(ctx, "edge log lines", func(batch int32) (int64, error) {
		return o.store.PruneEdgeLogLines(ctx, db.PruneEdgeLogLinesParams{KeepSeconds: o.cfg.LogRetention.Seconds(), Batch: batch})
	})
	if logs+events+buildLogs+audit+edgeLogs > 0 {
		o.log.Info("pruned old records", "log_lines", logs, "events", events, "build_log_lines", buildLogs,
			"audit_entries", audit, "edge_log_lines", edgeLogs)
	}
}

func (o *Operator) pruneBatches(ctx context.Context, what string, del func(batch int32) (int64, error)) int64 {
	var total int64
	for ctx.Err() == nil {
		n, err := del(o.pruneBatch)
		total += n
		if err != nil {
			o.log.Warn("prune "+what, "err", err)
			break
		}
		if n < int64(o.pruneBatch) {
			break
		}
	}
	return total
}
