package operatortest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
)

// Builder is a fake build.Builder for tests of the build queue and its
// clients: it reads the context's Dockerfile, logs two lines, and pushes
// a tiny image with the request's credentials, as a real backend would.
// Hook, if set, runs first and may block, fail or write more output.
type Builder struct {
	Hook func(ctx context.Context, req build.Request) error
	// PushHook, if set, runs once the push stage began, before the push.
	PushHook func(ctx context.Context, req build.Request) error

	mu       sync.Mutex
	requests []build.Request
	counts   map[string]int
}

// Build implements build.Builder.
func (b *Builder) Build(ctx context.Context, req build.Request) (build.Result, error) {
	b.mu.Lock()
	b.requests = append(b.requests, req)
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	b.counts[req.ID]++
	b.mu.Unlock()
	if b.Hook != nil {
		if err := b.Hook(ctx, req); err != nil {
			return build.Result{}, err
		}
	}
	df, err := os.ReadFile(filepath.Join(req.ContextDir, req.Dockerfile))
	if err != nil {
		return build.Result{}, fmt.Errorf("%w: no Dockerfile: %v", build.ErrUser, err)
	}
	fmt.Fprintf(req.Log, "STEP 1/1: %s\n", df)
	fmt.Fprintf(req.Log, "COMMIT %s\n", req.Push)
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: df}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		return build.Result{}, err
	}
	ref, err := name.ParseReference(req.Push, name.Insecure)
	if err != nil {
		return build.Result{}, err
	}
	req.EnterStage(build.StagePush)
	if b.PushHook != nil {
		if err := b.PushHook(ctx, req); err != nil {
			return build.Result{}, err
		}
	}
	digest, err := image.PushImage(ctx, img, ref, &authn.Basic{Username: req.PushUser, Password: req.PushPassword}, nil)
	if err != nil {
		return build.Result{}, fmt.Errorf("push: %w", err)
	}
	return build.Result{Digest: digest, Timings: map[string]int64{"build": 1, "push": 1}}, nil
}

// Requests returns the requests seen so far.
func (b *Builder) Requests() []build.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]build.Request(nil), b.requests...)
}

// Counts returns how often each build id was built.
func (b *Builder) Counts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.counts {
		out[k] = v
	}
	return out
}

var _ build.Builder = (*Builder)(nil)
