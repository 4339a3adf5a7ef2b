package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// buildSource is where a build's context comes from: an upload here; a
// git push or a GitHub webhook fill in the commit and branch and hand the
// commit's tree as the same kind of archive.
type buildSource struct {
	Kind                            string // "upload" or "git"
	Commit, Branch, Message, Author string
	Dockerfile, Target              string
	// Received is when the operator began to receive the context, for
	// the build's receive stage; zero when it is fetched later (GitHub).
	Received time.Time
}

// createBuild takes a build context (tar or tar.gz) as the body and queues
// its build. The archive is checked (safe paths, size) before anything is
// queued, so a bad upload is refused at once with what is wrong.
func (o *Operator) createBuild(w http.ResponseWriter, r *http.Request) error {
	received := time.Now()
	if o.cfg.Builder == nil {
		return &apiError{http.StatusServiceUnavailable, "no builder configured on this operator",
			"deploy a prebuilt image with `zeitwork deploy --image REF`, or ask the operator to enable builds"}
	}
	p, err := o.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	src := buildSource{Kind: "upload", Branch: q.Get("branch"), Dockerfile: q.Get("dockerfile"), Target: q.Get("target"),
		Received: received}
	if err := checkBuildOptions(src); err != nil {
		return err
	}
	if src.Dockerfile == "" {
		src.Dockerfile = p.Dockerfile // the project's, as for its pushes
	}
	// A client that builds a git commit (a CI job, say) names it.
	if c := q.Get("commit"); c != "" {
		if !commitPattern.MatchString(c) {
			return invalid("give the full commit id, e.g. `git rev-parse HEAD`", "invalid commit %q", c)
		}
		src.Kind, src.Commit = "git", c
		src.Message, src.Author = truncate(q.Get("message"), 4096), truncate(q.Get("author"), 256)
	}
	archive, err := o.readBuildContext(w, r)
	if err != nil {
		return err
	}
	if err := o.checkBuildContext(archive, &src); err != nil {
		return err
	}
	b, err := o.enqueueBuild(r.Context(), p, src, archive)
	if err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("build", b.ID.String())
	writeJSON(w, http.StatusAccepted, o.buildJSON(p, b, ""))
	return nil
}

// stageName is what Dockerfile stage names may be (FROM ... AS name).
var stageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// checkBuildOptions refuses a target or branch that no Dockerfile or git
// repository could have; both reach the builder's command line.
func checkBuildOptions(src buildSource) error {
	if src.Target != "" && !stageName.MatchString(src.Target) {
		return invalid("give the name of a stage (FROM ... AS name)", "invalid target %q", src.Target)
	}
	if src.Branch != "" && !api.ValidBranch(src.Branch) {
		return invalid("give a git branch name such as main", "invalid branch %q", src.Branch)
	}
	return nil
}

// readBuildContext reads the body up to BuildContextMaxBytes.
func (o *Operator) readBuildContext(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := o.cfg.BuildContextMaxBytes
	archive, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge("leave out what the build does not need with .dockerignore",
			"build context over the limit of %d MiB", limit>>20)
	}
	if err != nil {
		return nil, invalid("send the context as a tar or tar.gz body", "read build context: %v", err)
	}
	return archive, nil
}

// checkBuildContext extracts the archive into a scratch directory, which
// checks every entry and the size once extracted, and looks for the
// Dockerfile (or, when none is named, a Containerfile).
func (o *Operator) checkBuildContext(archive []byte, src *buildSource) error {
	if src.Dockerfile == "" {
		src.Dockerfile = build.DefaultDockerfile
	}
	df := path.Clean(src.Dockerfile)
	if path.IsAbs(df) || df == ".." || strings.HasPrefix(df, "../") {
		return invalid("give the Dockerfile's path relative to the context, e.g. docker/Dockerfile",
			"dockerfile path %q leaves the context", src.Dockerfile)
	}
	src.Dockerfile = df
	dir, err := os.MkdirTemp("", "zeitwork-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	err = buildcontext.Extract(bytes.NewReader(archive), dir, o.cfg.BuildContextMaxBytes)
	switch {
	case errors.Is(err, buildcontext.ErrTooLarge):
		return tooLarge("leave out what the build does not need with .dockerignore", "%v", err)
	case errors.Is(err, buildcontext.ErrInvalid):
		return invalid("send a tar or tar.gz of the context directory, with relative paths inside it", "%v", err)
	case err != nil:
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// The default name falls back to a Containerfile as the builder does;
	// src.Dockerfile keeps the name asked for, and the builder logs which
	// file it used.
	if _, ok := build.ChooseDockerfile(df, func(name string) bool {
		fi, err := root.Lstat(name)
		return err == nil && fi.Mode().IsRegular()
	}); !ok {
		return invalid("add a Dockerfile (or Containerfile) to the context, or name it with ?dockerfile=PATH (--dockerfile)",
			"%s", build.MissingDockerfile(df))
	}
	return nil
}

// insertBuild records a queued build of p from src, in the caller's
// transaction. Builds of the production branch (and uploads without a
// branch) go live when ready; builds of other branches make previews.
func insertBuild(ctx context.Context, q *db.Queries, p db.Project, src buildSource) (db.Build, error) {
	return q.CreateBuild(ctx, db.CreateBuildParams{
		ID: uuid.New(), ProjectID: p.ID, Source: src.Kind, CommitSha: src.Commit, Branch: src.Branch,
		CommitMessage: src.Message, CommitAuthor: src.Author, Dockerfile: src.Dockerfile, Target: src.Target,
		Preview: src.Branch != "" && src.Branch != p.ProductionBranch,
	})
}

// enqueueBuild queues a build of the project from src and its context
// archive. Builds of the production branch (and uploads without a branch)
// go live when ready; builds of other branches make previews.
func (o *Operator) enqueueBuild(ctx context.Context, p db.Project, src buildSource, archive []byte) (db.Build, error) {
	var b db.Build
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		var err error
		if b, err = insertBuild(ctx, q, p, src); err != nil {
			return err
		}
		if !src.Received.IsZero() {
			// The receive stage: the context read and checked, until queued.
			b.Timings, _ = json.Marshal(map[string]int64{stageReceive: time.Since(src.Received).Milliseconds()})
			if err := q.SetBuildTimings(ctx, db.SetBuildTimingsParams{ID: b.ID, Timings: b.Timings}); err != nil {
				return err
			}
		}
		if err := q.PutBuildContext(ctx, db.PutBuildContextParams{BuildID: b.ID, Archive: archive}); err != nil {
			return err
		}
		// In the transaction: once committed, a builder may claim the
		// build and log before this line would.
		return q.AddBuildLogLine(ctx, db.AddBuildLogLineParams{BuildID: b.ID,
			Line: fmt.Sprintf("zeitwork: build queued (%d KiB context)", len(archive)>>10)})
	})
	if err != nil {
		return b, fmt.Errorf("queue build: %w", err)
	}
	o.hub.Bump()
	return b, nil
}

func (o *Operator) listBuilds(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	bs, err := o.store.ListBuilds(r.Context(), db.ListBuildsParams{ProjectID: p.ID, Limit: limit})
	if err != nil {
		return err
	}
	out := []api.Build{}
	for _, b := range bs {
		out = append(out, o.buildJSON(p, b, o.deploymentSlug(r.Context(), b)))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// build loads the {build} of the path within the caller's organisation;
// another organisation's build is "not found", like a missing one.
func (o *Operator) build(r *http.Request) (db.Project, db.Build, error) {
	ref := r.PathValue("build")
	missing := notFound("list builds with `zeitwork builds list PROJECT`", "build %q not found", ref)
	id, err := uuid.Parse(ref)
	if err != nil {
		return db.Project{}, db.Build{}, missing
	}
	b, err := o.store.GetBuild(r.Context(), id)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return db.Project{}, b, missing
		}
		return db.Project{}, b, err
	}
	p, err := o.store.GetProject(r.Context(), b.ProjectID)
	if err != nil {
		return p, b, err
	}
	if p.OrganisationID != principalFrom(r.Context()).orgID {
		return p, db.Build{}, missing
	}
	auditProject(r.Context(), p)
	if err := checkProjectScope(r, p); err != nil {
		return p, db.Build{}, err
	}
	return p, b, nil
}

func (o *Operator) getBuild(w http.ResponseWriter, r *http.Request) error {
	p, b, err := o.build(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.buildJSON(p, b, o.deploymentSlug(r.Context(), b)))
	return nil
}

// cancelBuild cancels a queued or running build. The replica running it
// sees the status change (NOTIFY, or its next lease renewal) and cancels
// the builder's context.
func (o *Operator) cancelBuild(w http.ResponseWriter, r *http.Request) error {
	p, b, err := o.build(r)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		var moved db.Build
		// The log line commits with the status: a client following the
		// log sees it before the build's end.
		err := o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
			var err error
			if moved, err = o.transitionBuild(r.Context(), q, b, buildstate.Cancel, "cancelled by "+principalFrom(r.Context()).kind, "", false); err != nil {
				return err
			}
			return q.AddBuildLogLine(r.Context(), db.AddBuildLogLineParams{BuildID: b.ID, Line: "zeitwork: build cancelled"})
		})
		if errors.Is(err, buildstate.ErrNotAllowed) {
			return conflict("only queued or running builds can be cancelled", "build %s already ended (%s)", b.ID, b.Status)
		}
		if errors.Is(err, buildstate.ErrConflict) && attempt < 3 {
			if b, err = o.store.GetBuild(r.Context(), b.ID); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		o.builds.stop(b.ID, errBuildCancelled)
		writeJSON(w, http.StatusOK, o.buildJSON(p, moved, ""))
		return nil
	}
}

// deploymentSlug is the short id of the deployment a build created, or "".
func (o *Operator) deploymentSlug(ctx context.Context, b db.Build) string {
	if !b.DeploymentID.Valid {
		return ""
	}
	d, err := o.store.GetDeployment(ctx, b.DeploymentID.UUID)
	if err != nil {
		return ""
	}
	return d.Slug
}

func (o *Operator) buildJSON(p db.Project, b db.Build, deployment string) api.Build {
	out := api.Build{
		ID: b.ID.String(), Project: p.Name, Source: b.Source, Commit: b.CommitSha, Branch: b.Branch,
		CommitMessage: b.CommitMessage, CommitAuthor: b.CommitAuthor, Dockerfile: b.Dockerfile, Target: b.Target,
		Preview: b.Preview, Status: b.Status, Reason: b.Reason, Digest: b.ImageDigest, Deployment: deployment,
		Attempts: int(b.Attempts), CreatedAt: b.CreatedAt, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		Image: b.ImageRef,
	}
	json.Unmarshal(b.Timings, &out.Timings)
	return out
}
