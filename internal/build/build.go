// Package build turns a source tree with a Dockerfile into an OCI image in a
// registry. The operator's build queue drives a Builder; backends (buildah
// in a sandbox today, a builder microVM on hosts with KVM later) sit behind
// the one interface.
package build

import (
	"context"
	"errors"
	"io"
)

// Request is one build. Everything in it except Args and the push
// credentials comes from the tenant and is untrusted.
type Request struct {
	// ID names the build (logs, sandbox, temporary directories).
	ID string
	// Project scopes the layer cache: builds of one project reuse layers,
	// builds of different projects never share them.
	Project string
	// ContextDir holds the build context, already extracted and checked.
	ContextDir string
	// Dockerfile is the Dockerfile's path relative to ContextDir
	// (default "Dockerfile").
	Dockerfile string
	// Target is the multi-stage target ("" for the last stage).
	Target string
	// Args are the project's build args (--build-arg), the only values of
	// the project's that reach a build.
	Args map[string]string
	// Push is the image reference to push the result to, e.g.
	// "registry.host:port/acme/web:build-<id>".
	Push string
	// PushUser and PushPassword authenticate the push (and pulls of base
	// images from the same registry). They never reach a RUN step.
	PushUser, PushPassword string
	// Log receives the build's output, line by line, as it happens.
	Log io.Writer
	// Stage, if set, is told when the build enters a stage after the
	// first: StagePush once the image is built and its push begins. The
	// operator shows the build as pushing from then on and times each
	// stage. It returns promptly and may be called from any goroutine.
	Stage func(name string)
}

// Stages a backend reports through Request.Stage.
const (
	StagePush = "push"
)

// EnterStage calls req.Stage, if set.
func (r Request) EnterStage(name string) {
	if r.Stage != nil {
		r.Stage(name)
	}
}

// Result is a finished build.
type Result struct {
	// Digest of the pushed image manifest ("sha256:...").
	Digest string
	// Timings of the stages, in milliseconds: "build", "push".
	Timings map[string]int64
}

// Builder builds images. Build blocks until the build is done, failed, or
// ctx ends (cancellation or the time limit), and leaves nothing behind in
// each case: no container, namespace, mount or temporary directory.
type Builder interface {
	Build(ctx context.Context, req Request) (Result, error)
}

// ErrUser marks a failure caused by the tenant's input (a Dockerfile
// syntax error, a failing RUN step, a missing Dockerfile): the message is
// for the user as it stands. Other errors are the platform's.
var ErrUser = errors.New("build failed")
