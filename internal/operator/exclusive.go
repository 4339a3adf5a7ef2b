package operator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Advisory lock keys of the loops that one replica at a time runs. The
// others skip a pass that is taken and try again at their next tick or
// wake-up, so that a pass is never done twice and never waited for.
const (
	reconcileLock    = 0x7a77726563 // "zwrec"
	githubStatusLock = 0x7a77676873 // "zwghs": posting a status twice shows twice on the commit
	domainCheckLock  = 0x7a77646f6d // "zwdom": two checks of one domain could record opposite answers
	registryGCLock   = 0x7a77726763 // "zwrgc": two collections of one shared storage race to delete the same blobs
)

// exclusively runs fn if no other replica holds the advisory lock key, and
// reports whether it ran. A replica that dies releases its locks with its
// connection.
func (o *Operator) exclusively(ctx context.Context, key int64, fn func(ctx context.Context) error) (bool, error) {
	got, err := o.locks.try(ctx, key)
	if err != nil || !got {
		return false, err
	}
	defer o.locks.unlock(key)
	return true, fn(ctx)
}

// lockSession is one connection of its own, outside the pool, that holds
// this replica's advisory locks. Held on pooled connections, each loop
// kept one connection for its whole pass while its queries needed more:
// with three such loops and the LISTEN connection a pool of four had none
// left and every loop waited for ever.
//
// Each loop has its own key, so that the locks, which are reentrant within
// a session, are never taken twice by one replica.
type lockSession struct {
	cfg    *pgx.ConnConfig
	mu     sync.Mutex
	conn   *pgx.Conn
	closed bool
}

// lockTimeout bounds a lock statement; it runs without the caller's
// context, since a cancelled query closes the connection and with it the
// locks that other loops hold.
const lockTimeout = 10 * time.Second

func (s *lockSession) try(ctx context.Context, key int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ctx.Err()
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockTimeout)
	defer cancel()
	if s.conn == nil || s.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(qctx, s.cfg)
		if err != nil {
			return false, fmt.Errorf("connect for advisory locks: %w", err)
		}
		s.conn = conn
	}
	var got bool
	if err := s.conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		s.conn.Close(qctx)
		s.conn = nil
		return false, fmt.Errorf("take advisory lock: %w", err)
	}
	return got, nil
}

// unlock releases key; if the connection was lost meanwhile, so was the lock.
func (s *lockSession) unlock(key int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	if _, err := s.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		s.conn.Close(ctx)
		s.conn = nil
	}
}

// close ends the session and with it every lock it holds.
func (s *lockSession) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		s.conn.Close(context.Background())
		s.conn = nil
	}
}
