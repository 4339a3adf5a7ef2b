package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// runBuild runs one claimed build to its end: extracts its context into a
// fresh directory (removed whatever happens), builds and pushes with the
// Builder under the build's time limit, and creates the deployment of the
// pushed digest. Every write is under the build's claim (owner): a build
// cancelled or recovered meanwhile is left as the other party put it.
func (o *Operator) runBuild(ctx context.Context, b db.Build, owner string) {
	run := o.newBuildRun(ctx, b, owner)
	img, err := o.buildImage(ctx, run)
	if err == nil {
		err = o.finishBuild(ctx, run, img)
	}
	if err == nil {
		return
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errBuildCancelled), errors.Is(cause, errLeaseLost):
		o.buildLog(ctx, b.ID, "zeitwork: build stopped: "+cause.Error())
		return
	case isBuildLost(err):
		return // cancelled or recovered between the build and its result
	}
	reason := buildFailure(err, o.cfg.BuildTimeout)
	// The reason may carry the log's tail, already in the log: one line.
	summary, _, _ := strings.Cut(reason, "\n")
	o.buildLog(ctx, b.ID, "zeitwork: build failed: "+summary)
	run.store()
	// From the status the build has now: building, or pushing if the
	// push failed.
	if _, err := o.transitionBuild(context.WithoutCancel(ctx), o.store.Queries, run.build(), buildstate.Fail, reason, owner, false); err != nil && !isBuildLost(err) {
		o.log.Error("fail build", "build", b.ID, "err", err)
	}
}

// errTimeLimit is the cause of a build's context that ran past its limit.
var errTimeLimit = errors.New("time limit")

// buildFailure is the reason a user reads for err.
func buildFailure(err error, limit time.Duration) string {
	switch {
	case errors.Is(err, errTimeLimit):
		return fmt.Sprintf("the build ran longer than its time limit of %s", limit)
	case errors.Is(err, build.ErrUser):
		// The status already says the build failed; the reason is why.
		return strings.TrimPrefix(err.Error(), build.ErrUser.Error()+": ")
	case errors.Is(err, buildcontext.ErrInvalid), errors.Is(err, buildcontext.ErrTooLarge):
		return err.Error()
	}
	var se *sourceError
	if errors.As(err, &se) {
		return se.Error()
	}
	return "the platform failed to build: " + err.Error()
}

// builtImage is where a build's image went: repo@digest.
type builtImage struct{ repo, digest string }

// buildImage brings the context into a fresh directory (removed whatever
// happens) and runs the Builder, which pushes to the built-in registry,
// then copies the image to the project's push repository if it has one;
// it returns where the image is.
func (o *Operator) buildImage(ctx context.Context, run *buildRun) (builtImage, error) {
	b := run.build()
	p, err := o.store.GetProject(ctx, b.ProjectID)
	if err != nil {
		return builtImage{}, err
	}
	// Opened first: credentials that cannot be opened fail the build
	// before it runs.
	creds, pushRepo, err := o.projectRegistry(ctx, p.ID)
	if err != nil {
		return builtImage{}, err
	}
	// The time limit covers fetching the source and the copy too.
	bctx, cancel := context.WithTimeoutCause(ctx, o.cfg.BuildTimeout, errTimeLimit)
	defer cancel()
	digest, err := o.runBuilder(ctx, bctx, run, p, pushRepo)
	if err != nil || pushRepo == "" {
		return builtImage{o.buildImageRepo(p), digest}, err
	}
	run.enter(stagePushExternal)
	err = o.pushExternal(bctx, b, o.buildImageRepo(p)+"@"+digest, pushRepo, creds)
	run.end()
	if err != nil {
		return builtImage{}, overLimit(bctx, b, err)
	}
	if ctx.Err() != nil {
		return builtImage{}, context.Cause(ctx)
	}
	return builtImage{pushRepo, digest}, nil
}

// runBuilder extracts the context and runs the Builder under bctx; it
// returns the pushed digest.
func (o *Operator) runBuilder(ctx, bctx context.Context, run *buildRun, p db.Project, pushRepo string) (string, error) {
	b := run.build()
	dir, err := o.buildContextDir(bctx, run)
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return "", overLimit(bctx, b, err)
	}
	args, err := o.projectBuildArgs(ctx, p.ID)
	if err != nil {
		return "", err
	}
	logw := o.newBuildLogWriter(ctx, b.ID)
	defer logw.Close()
	dockerfile, what := buildFile(dir, b.Dockerfile)
	req := build.Request{
		ID: b.ID.String(), Project: p.Name, ContextDir: dir, Dockerfile: dockerfile, Target: b.Target,
		Args:     args,
		Push:     o.buildImageRepo(p) + ":build-" + b.ID.String()[:8],
		PushUser: "zeitwork", PushPassword: o.builds.get(b.ID).pushToken,
		Log: logw, Stage: run.enter,
	}
	dest := req.Push
	if pushRepo != "" {
		dest += " then " + pushRepo
	}
	o.buildLog(ctx, b.ID, fmt.Sprintf("zeitwork: building %s (%s), pushing to %s", p.Name, what, dest))
	run.enter(stageBuild)
	res, err := o.callBuilder(bctx, req)
	o.builds.revokePush(b.ID)
	if err := o.store.ClearBuildPushToken(context.WithoutCancel(ctx), b.ID); err != nil {
		// The token still dies with the build's status (GetBuildPushOrg).
		o.log.Warn("revoke build push token", "build", b.ID, "err", err)
	}
	run.end()
	logw.Close()
	if err != nil {
		return "", overLimit(bctx, b, err)
	}
	if ctx.Err() != nil {
		return "", context.Cause(ctx)
	}
	run.report(res.Timings)
	if !digestPattern.MatchString(res.Digest) {
		return "", fmt.Errorf("builder returned no valid digest (%q)", res.Digest)
	}
	return res.Digest, nil
}

// buildContextDir extracts the build's context into a new temporary
// directory: its uploaded archive, or the commit a push event named,
// fetched from GitHub now.
func (o *Operator) buildContextDir(ctx context.Context, run *buildRun) (string, error) {
	b := run.build()
	var archive []byte
	var err error
	if b.GithubRepo != "" {
		run.enter(stageFetch)
		archive, err = o.fetchGitHubContext(ctx, b)
	} else {
		archive, err = o.store.GetBuildContext(ctx, b.ID)
		if err != nil {
			err = fmt.Errorf("load build context: %w", err)
		}
	}
	if err != nil {
		return "", err
	}
	run.enter(stageExtract)
	dir, err := os.MkdirTemp("", "zeitwork-build-"+b.ID.String()[:8]+"-")
	if err != nil {
		return "", fmt.Errorf("build directory: %w", err)
	}
	return dir, buildcontext.Extract(bytes.NewReader(archive), dir, o.cfg.BuildContextMaxBytes)
}

// overLimit is err, or the time limit if bctx ran past it.
func overLimit(bctx context.Context, b db.Build, err error) error {
	if errors.Is(context.Cause(bctx), errTimeLimit) {
		return fmt.Errorf("build %s: %w", b.ID, errTimeLimit)
	}
	return err
}

// errBuilderStuck is a Builder that did not return after its context
// ended.
var errBuilderStuck = errors.New("the builder did not stop when told to")

// callBuilder runs the Builder, but returns at the latest one lease after
// ctx ends, even if the Builder does not: a hung backend must not keep a
// build (and this replica's slot) busy forever while its lease is renewed.
func (o *Operator) callBuilder(ctx context.Context, req build.Request) (build.Result, error) {
	type result struct {
		res build.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := o.cfg.Builder.Build(ctx, req)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(o.cfg.BuildLease)
	defer grace.Stop()
	select {
	case r := <-done:
		return r.res, r.err
	case <-grace.C:
		o.log.Error("builder did not stop after its build ended", "build", req.ID, "cause", context.Cause(ctx))
		return build.Result{}, fmt.Errorf("%w (%v)", errBuilderStuck, context.Cause(ctx))
	}
}

// buildImageRepo is the built-in registry repository a project's builds
// are pushed to: named after the project, as authorizeRepos expects.
func (o *Operator) buildImageRepo(p db.Project) string {
	return o.cfg.RegistryHost + "/" + p.Name
}

// finishBuild creates the deployment of the digest and marks the build
// done, in one transaction: a build cancelled meanwhile creates nothing.
func (o *Operator) finishBuild(ctx context.Context, run *buildRun, img builtImage) error {
	b := run.build()
	run.enter(stageDeploy)
	p, err := o.store.GetProject(ctx, b.ProjectID)
	if err != nil {
		return err
	}
	digest, ref := img.digest, img.repo+"@"+img.digest
	if err := o.checkImageSource(ctx, p.OrganisationID, ref); err != nil {
		return err
	}
	kind := "deployment"
	if b.Preview {
		kind = "preview deployment"
	}
	var d db.Deployment
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		if d, err = o.insertDeployment(ctx, q, p, ref, b.Preview); err != nil {
			return err
		}
		tj, _ := json.Marshal(run.end())
		_, err := q.FinishBuild(ctx, db.FinishBuildParams{ID: b.ID, ImageDigest: digest,
			DeploymentID: uuid.NullUUID{UUID: d.ID, Valid: true}, Timings: tj, FromStatus: b.Status, Owner: run.owner})
		if err != nil {
			return fmt.Errorf("finish build %s: %w", b.ID, buildstate.ErrConflict)
		}
		if err := q.SetBuildImageRef(ctx, db.SetBuildImageRefParams{ID: b.ID, ImageRef: ref}); err != nil {
			return err
		}
		if err := q.DeleteBuildContext(ctx, b.ID); err != nil {
			return err
		}
		// With the status, so that a client following the log sees it.
		return q.AddBuildLogLine(ctx, db.AddBuildLogLineParams{BuildID: b.ID,
			Line: fmt.Sprintf("zeitwork: pushed %s; %s %s created", ref, kind, d.Slug)})
	})
	if err != nil {
		return err
	}
	o.event(ctx, d, "created", fmt.Sprintf("%s created from build %s (%s)", kind, b.ID.String()[:8], digest))
	o.hub.Bump()
	return nil
}

// buildLog stores one line of the operator's own about a build.
func (o *Operator) buildLog(ctx context.Context, id uuid.UUID, line string) {
	if err := o.store.AddBuildLogLine(context.WithoutCancel(ctx), db.AddBuildLogLineParams{BuildID: id, Line: line}); err != nil {
		o.log.Warn("store build log line", "build", id, "err", err)
	}
}

// buildLogWriter stores a builder's output line by line, each cut to
// maxStoredLine, up to BuildLogMaxLines per build; then one line says the
// log was cut. The builder may write from several goroutines.
type buildLogWriter struct {
	o     *Operator
	ctx   context.Context
	id    uuid.UUID
	mu    sync.Mutex
	buf   []byte
	lines int
}

func (o *Operator) newBuildLogWriter(ctx context.Context, id uuid.UUID) *buildLogWriter {
	return &buildLogWriter{o: o, ctx: context.WithoutCancel(ctx), id: id}
}

func (w *buildLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxStoredLine {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// Close stores what is left of an unfinished last line.
func (w *buildLogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
	return nil
}

func (w *buildLogWriter) line(s string) {
	w.lines++
	max := w.o.cfg.BuildLogMaxLines
	switch {
	case w.lines == max+1:
		s = fmt.Sprintf("zeitwork: build log cut after %d lines", max)
	case w.lines > max:
		return
	}
	if len(s) > maxStoredLine {
		s = s[:maxStoredLine] + " [truncated]"
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(strings.TrimRight(s, "\r"), "\x00", ""), "?")
	w.o.buildLog(w.ctx, w.id, s)
}

// buildFile is the build file of the extracted context dir the build
// uses (a Containerfile when the project names the default Dockerfile and
// the context has only a Containerfile), and how the build log names it.
// A context with neither keeps the name asked for; the builder says what
// is missing.
func buildFile(dir, name string) (string, string) {
	chosen, _ := build.ChooseDockerfile(name, func(n string) bool {
		fi, err := os.Lstat(filepath.Join(dir, n))
		return err == nil && fi.Mode().IsRegular()
	})
	if chosen == build.Containerfile && name != build.Containerfile {
		return chosen, "Containerfile, as the context has no Dockerfile"
	}
	return chosen, "Dockerfile " + chosen
}
