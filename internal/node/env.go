package node

import (
	"context"
	"sync"
)

// instanceEnv holds an instance's decrypted env vars in memory only: they
// are never written to the node's disk (records.save drops them). An
// adopted instance learns them again from the operator's next desired
// state; it needs them only when its VM boots again.
type instanceEnv struct {
	once  sync.Once
	known chan struct{}
	vars  []string
}

func newInstanceEnv() *instanceEnv { return &instanceEnv{known: make(chan struct{})} }

// deliver records the env vars the operator sent; the first delivery wins,
// as the VM was configured with it.
func (e *instanceEnv) deliver(vars []string) {
	e.once.Do(func() {
		e.vars = vars
		close(e.known)
	})
}

// wait returns the env vars once delivered.
func (e *instanceEnv) wait(ctx context.Context) ([]string, error) {
	select {
	case <-e.known:
		return e.vars, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
