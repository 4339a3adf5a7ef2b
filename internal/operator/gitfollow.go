package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Trailer of the hook's answer: "ok" when the build and rollout succeeded.
// A trailer and not a line of the body, which carries the tenant's build
// output and could print anything.
const pushResultTrailer = "Zeitwork-Result"

var commitPattern = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// pushBuild is the hook's request: the archive of one pushed commit as the
// body, its branch, commit, message and author in the query. It queues the
// build and answers, line by line as they happen, with the build's log,
// the rollout's events and the URLs, or the failure.
func (o *Operator) pushBuild(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	s, ok := o.git.sessions.lookup(bearer(r))
	if !ok {
		o.writeError(w, r, errUnauthorized)
		return
	}
	// Errors answered to the hook are the push's outcome.
	r = r.WithContext(context.WithValue(r.Context(), auditKey{}, s.audit))
	p, err := o.store.GetProject(r.Context(), s.project)
	if err != nil || p.OrganisationID != s.org {
		o.writeError(w, r, notFound("", "project not found"))
		return
	}
	q := r.URL.Query()
	src := buildSource{Kind: "git", Commit: q.Get("commit"), Branch: q.Get("branch"),
		Message: truncate(q.Get("message"), 4096), Author: truncate(q.Get("author"), 256), Received: received}
	if !commitPattern.MatchString(src.Commit) || src.Branch == "" {
		o.writeError(w, r, invalid("", "a push build needs a commit id and a branch"))
		return
	}
	if o.cfg.Builder == nil {
		o.writeError(w, r, &apiError{http.StatusServiceUnavailable, "no builder configured on this operator",
			"deploy a prebuilt image with `zeitwork deploy --image REF`"})
		return
	}
	archive, err := o.readBuildContext(w, r)
	if err == nil {
		archive, err = o.pushContext(archive, p, &src)
	}
	if err == nil {
		err = o.checkBuildContext(archive, &src)
	}
	var b db.Build
	if err == nil {
		b, err = o.enqueueBuild(r.Context(), p, src, archive)
	}
	if err != nil {
		o.writeError(w, r, err)
		return
	}
	w.Header().Set("Trailer", pushResultTrailer)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(r.Context(), o.pushTimeout())
	defer cancel()
	out := &pushOutput{w: w}
	kind := "production"
	if b.Preview {
		kind = "preview"
	}
	out.printf("zeitwork: building %s of %s (%s, branch %s), build %s", short(src.Commit), p.Name, kind, src.Branch, b.ID)
	s.audit.setObject("build", b.ID.String())
	result := "failed"
	if o.followPush(ctx, out, p, b) {
		result = "ok"
	} else {
		s.audit.setError("build " + b.ID.String() + " or its rollout failed: the push was rejected")
	}
	w.Header().Set(pushResultTrailer, result)
}

// pushContext cuts the project's build context out of the pushed
// commit's archive: its root directory, packed with its .dockerignore, and
// built from the project's Dockerfile, as a GitHub push of the same commit
// would be.
func (o *Operator) pushContext(archive []byte, p db.Project, src *buildSource) ([]byte, error) {
	src.Dockerfile = p.Dockerfile
	out, err := buildcontext.Reroot(archive, p.RootDir, p.Dockerfile, o.cfg.BuildContextMaxBytes)
	switch {
	case errors.Is(err, buildcontext.ErrTooLarge):
		return nil, tooLarge("leave out what the build does not need with .dockerignore", "%v", err)
	case errors.Is(err, buildcontext.ErrInvalid):
		return nil, invalid("check the project's root directory (`zeitwork projects update "+p.Name+" --root-dir`) and the commit", "%v", err)
	}
	return out, err
}

// followPush prints the build's log until it ends, then the deployment's
// events until it is ready or failed; it reports whether all went well.
func (o *Operator) followPush(ctx context.Context, out *pushOutput, p db.Project, b db.Build) bool {
	b, ok := o.followBuild(ctx, out, b)
	if !ok {
		return false
	}
	d, err := o.store.GetDeployment(ctx, b.DeploymentID.UUID)
	if err != nil {
		out.printf("error: read the deployment: %v", err)
		return false
	}
	out.printf("zeitwork: built %s; rolling out deployment %s", b.ImageDigest, d.Slug)
	if d, ok = o.followDeployment(ctx, out, d); !ok {
		return false
	}
	if d.Preview {
		out.printf("zeitwork: preview %s is live at %s", d.Slug, o.appURL(api.VersionedLabel(p.Name, d.Slug)))
		out.printf("zeitwork: the project URL %s keeps serving the production branch", o.appURL(p.Name))
		return true
	}
	out.printf("zeitwork: deployment %s is live at %s", d.Slug, o.appURL(p.Name))
	out.printf("zeitwork: this version: %s", o.appURL(api.VersionedLabel(p.Name, d.Slug)))
	return true
}

// followBuild prints the build's log lines as they are stored until the
// build ends.
func (o *Operator) followBuild(ctx context.Context, out *pushOutput, b db.Build) (db.Build, bool) {
	var last int64
	for {
		logs := o.hub.Logs()
		_, changed := o.hub.Version()
		cur, err := o.store.GetBuild(ctx, b.ID)
		if err != nil {
			return b, o.gaveUp(ctx, out, "build "+b.ID.String(), err)
		}
		lines, err := o.store.ListBuildLogLines(ctx, db.ListBuildLogLinesParams{BuildID: b.ID, ID: last, Limit: 1000})
		if err != nil {
			return b, o.gaveUp(ctx, out, "build "+b.ID.String(), err)
		}
		for _, l := range lines {
			out.printf("%s", stripControl(l.Line))
			last = l.ID
		}
		if len(lines) == 1000 {
			continue
		}
		if buildstate.Final(cur.Status) {
			if cur.Status != buildstate.Done {
				out.printf("error: build %s: %s", cur.Status, cur.Reason)
				return cur, false
			}
			return cur, true
		}
		if !wait(ctx, logs, changed) {
			return b, o.gaveUp(ctx, out, "build "+b.ID.String(), ctx.Err())
		}
	}
}

// followDeployment prints the deployment's events until it is ready (a
// production deployment is then live) or ends otherwise.
func (o *Operator) followDeployment(ctx context.Context, out *pushOutput, d db.Deployment) (db.Deployment, bool) {
	var last int64
	for {
		_, changed := o.hub.Version()
		cur, err := o.store.GetDeployment(ctx, d.ID)
		if err != nil {
			return d, o.gaveUp(ctx, out, "deployment "+d.Slug, err)
		}
		events, err := o.store.ListDeploymentEvents(ctx, db.ListDeploymentEventsParams{DeploymentID: uuid.NullUUID{UUID: d.ID, Valid: true}, ID: last})
		if err != nil {
			return d, o.gaveUp(ctx, out, "deployment "+d.Slug, err)
		}
		for _, e := range events {
			out.printf("zeitwork: %s", e.Message)
			last = e.ID
		}
		switch cur.Status {
		case api.StatusReady:
			return cur, true
		case api.StatusDeploying:
		default:
			out.printf("error: deployment %s %s: %s", cur.Slug, cur.Status, cur.StatusReason)
			return cur, false
		}
		if !wait(ctx, nil, changed) {
			return d, o.gaveUp(ctx, out, "deployment "+d.Slug, ctx.Err())
		}
	}
}

// gaveUp reports that the push stops waiting; what it waited for goes on.
func (o *Operator) gaveUp(ctx context.Context, out *pushOutput, what string, err error) bool {
	if ctx.Err() != nil {
		out.printf("error: gave up waiting for %s after %s; it goes on: see `zeitwork status`", what, o.pushTimeout())
	} else {
		out.printf("error: follow %s: %v", what, err)
	}
	return false
}

// wait blocks until a or b fires, a second passes (a missed NOTIFY costs
// a second, not the push), or ctx ends (false).
func wait(ctx context.Context, a, b <-chan struct{}) bool {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-a:
	case <-b:
	case <-t.C:
	}
	return true
}

// pushOutput writes lines to the hook and flushes each.
type pushOutput struct{ w http.ResponseWriter }

func (p *pushOutput) printf(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
	if f, ok := p.w.(http.Flusher); ok {
		f.Flush()
	}
}

// stripControl replaces control characters (escape sequences included) in
// a line of the tenant's build output, which reaches the pusher's terminal.
func stripControl(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f)) {
			return r
		}
		return '?'
	}, s)
}

func short(commit string) string { return commit[:min(len(commit), 12)] }

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return s[:n]
	}
	return s
}
