package operator

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zeitwork/zeitwork/internal/store/db"
)

// hub turns PostgreSQL notifications into wake-ups for long polls, SSE
// streams and the reconciler. The version is the database's change feed
// (migration 0023), bumped at the commit of every change that nodes, edges
// or reconcilers act on, in commit order, and sent as the notification's
// payload: every replica on the database hands out the same numbers, so a
// poll may come back to any of them.
type hub struct {
	mu      sync.Mutex
	version int64
	changed chan struct{} // closed and replaced on every change or kick
	logs    chan struct{} // same, for new log lines
	stream  chan struct{} // same, for new rows of the change stream (stream.go)
}

func newHub() *hub {
	return &hub{changed: make(chan struct{}), logs: make(chan struct{}), stream: make(chan struct{})}
}

// Version returns the newest version this replica heard of and a channel
// closed at the next change.
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

// Bump wakes this replica's waiters at once after a local write, before the
// write's notification arrives; the reconciler runs sooner. It leaves the
// version alone: only the database moves it, so long polls woken by a bump
// see their version unchanged and wait on.
func (h *hub) Bump() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wakeLocked()
}

// advance records version v if it is newer and wakes the waiters.
func (h *hub) advance(v int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v <= h.version {
		return
	}
	h.version = v
	h.wakeLocked()
}

func (h *hub) wakeLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *hub) bumpLogs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.logs)
	h.logs = make(chan struct{})
}

// Stream returns a channel closed when the change stream has new rows.
func (h *hub) Stream() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stream
}

func (h *hub) bumpStream() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.stream)
	h.stream = make(chan struct{})
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
		h.Bump() // the reconciler and log streams look again
		h.bumpStream()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listenOnce listens, then reads the version: whatever committed while no
// connection listened is in it, and every later commit is notified.
func (h *hub) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN zeitwork_changes; LISTEN zeitwork_logs; LISTEN zeitwork_stream"); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *")
	q := db.New(conn)
	v, err := q.GetChangeVersion(ctx)
	if err != nil {
		return err
	}
	h.advance(v)
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case "zeitwork_logs":
			h.bumpLogs()
			continue
		case "zeitwork_stream":
			h.bumpStream()
			continue
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			// Not a version (an older replica's trigger): read it.
			if v, err = q.GetChangeVersion(ctx); err != nil {
				return err
			}
		}
		h.advance(v)
	}
}

// currentVersion reads the version from the database, so that a table or
// state answered right after a write of this or another replica is keyed
// by a version that includes it (the notification may still be on its
// way); if the database does not answer, the hub's version will do.
func (o *Operator) currentVersion(ctx context.Context) int64 {
	v, err := o.store.GetChangeVersion(ctx)
	if err != nil {
		v, _ = o.hub.Version()
		return v
	}
	o.hub.advance(v)
	return v
}
