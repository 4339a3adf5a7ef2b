package edge

import (
	"context"
	"sync"

	"github.com/zeitwork/zeitwork/internal/api"
)

// RouteSource delivers route tables to an edge. Watch calls update with the
// current table as soon as it has one and again on every change, until ctx
// ends; it returns only then (with nil) or on an error it cannot recover
// from. update is never called concurrently.
type RouteSource interface {
	Watch(ctx context.Context, update func(api.RouteTable)) error
}

// StaticSource is a RouteSource whose table is set by its owner: tests and
// the benchmark use it, and so can an edge run without an operator.
type StaticSource struct {
	mu      sync.Mutex
	table   api.RouteTable
	changed chan struct{} // closed and replaced by Set
}

// NewStaticSource returns a source that serves t until Set replaces it.
func NewStaticSource(t api.RouteTable) *StaticSource {
	return &StaticSource{table: t, changed: make(chan struct{})}
}

// Set replaces the table; watchers see it right away.
func (s *StaticSource) Set(t api.RouteTable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table = t
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *StaticSource) current() (api.RouteTable, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table, s.changed
}

// Watch implements RouteSource.
func (s *StaticSource) Watch(ctx context.Context, update func(api.RouteTable)) error {
	for {
		t, changed := s.current()
		update(t)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

var _ RouteSource = (*StaticSource)(nil)
