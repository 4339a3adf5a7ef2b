package operator

import (
	"context"
)

// Advisory lock keys of the loops that one replica at a time runs. The
// others skip a pass that is taken and try again at their next tick or
// wake-up, so that a pass is never done twice and never waited for.
const (
	reconcileLock    = 0x7a77726563 // "zwrec"
	githubStatusLock = 0x7a77676873 // "zwghs": posting a status twice shows twice on the commit
	domainCheckLock  = 0x7a77646f6d // "zwdom": two checks of one domain could record opposite answers
)

// exclusively runs fn if no other replica (or loop of this one) holds the
// session advisory lock key, and reports whether it ran. The lock is held
// on one pooled connection for the length of fn and released even when ctx
// has ended; a replica that dies releases it with its connection.
func (o *Operator) exclusively(ctx context.Context, key int64, fn func(ctx context.Context) error) (bool, error) {
	conn, err := o.store.Pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, err
	}
	if !got {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	return true, fn(ctx)
}
