package node

import (
	"context"
	"sync"

	"github.com/zeitwork/zeitwork/internal/api"
)

// instanceEnv holds an instance's decrypted env vars in memory only: they
// are never written to the node's disk (records.save drops them). An
// adopted instance learns them again from the operator's next desired
// state; it needs them only when its VM boots again.
//
// The project's registry login, if its image is on a private registry, is
// kept the same way; the latest delivery wins, as it may be rotated and
// is needed only when the image is pulled.
type instanceEnv struct {
	once  sync.Once
	known chan struct{}
	vars  []string

	mu   sync.Mutex
	auth *api.RegistryAuth
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

// deliverLogin records the registry login the operator sent (nil: none).
func (e *instanceEnv) deliverLogin(auth *api.RegistryAuth) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.auth = auth
}

// login is the registry login last delivered.
func (e *instanceEnv) login() *api.RegistryAuth {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.auth
}
