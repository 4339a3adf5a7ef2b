package operator

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// hub turns PostgreSQL notifications into wake-ups for long polls, SSE
// streams and the reconciler. The version is a counter local to this
// operator process: clients only compare it with what the same process gave
// them, and a mismatch just answers at once.
type hub struct {
	mu      sync.Mutex
	version int64
	changed chan struct{} // closed and replaced on every change
	logs    chan struct{} // same, for new log lines
}

func newHub() *hub {
	return &hub{version: 1, changed: make(chan struct{}), logs: make(chan struct{})}
}

// Version returns the current version and a channel closed at the next change.
func (h *hub) Version() (int64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.version, h.changed
}

// Logs returns a channel closed when log lines arrive.
func (h *hub) Logs() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs
}

// Bump records a change (also called directly after local writes, so that a
// lost notification connection delays nobody).
func (h *hub) Bump() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version++
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *hub) bumpLogs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.logs)
	h.logs = make(chan struct{})
}

// listen holds a LISTEN connection, reconnecting with backoff.
func (h *hub) listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listenOnce(ctx, pool)
		if ctx.Err() != nil {
			return
		}
		log.Warn("database notifications lost; reconnecting", "err", err, "in", backoff)
		h.Bump() // changes may have been missed
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (h *hub) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN zeitwork_changes; LISTEN zeitwork_logs"); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *")
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == "zeitwork_logs" {
			h.bumpLogs()
		} else {
			h.Bump()
		}
	}
}
