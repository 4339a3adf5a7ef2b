package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/operator/buildstate"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// webhookReply is the body of a webhook answer, for GitHub's delivery log.
type webhookReply struct {
	Ignored string   `json:"ignored,omitempty"`
	Builds  []string `json:"builds,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// githubWebhook takes GitHub's deliveries. Nothing of the body is read
// before its signature checks out; a push to a linked repository queues
// a build of exactly the pushed commit for every project linked to it.
func (o *Operator) githubWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, github.MaxPayload))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge("", "webhook body over %d bytes", github.MaxPayload)
	}
	if err != nil {
		return invalid("", "read webhook body: %v", err)
	}
	_, secret, err := o.githubApp(r.Context())
	if err != nil {
		return err
	}
	if !github.VerifySignature(secret, body, r.Header.Get("X-Hub-Signature-256")) {
		return &apiError{http.StatusUnauthorized, "missing or invalid X-Hub-Signature-256",
			"check that the App's webhook secret matches the operator's (`zeitwork github setup`)"}
	}
	auditFrom(r.Context()).setActor(auditActor{kind: actorGitHub})
	switch event := r.Header.Get("X-GitHub-Event"); event {
	case "push":
	case "ping":
		writeJSON(w, http.StatusOK, webhookReply{Ignored: "ping"})
		return nil
	default:
		writeJSON(w, http.StatusOK, webhookReply{Ignored: "event " + clipString(event, 64)})
		return nil
	}
	delivery := r.Header.Get("X-GitHub-Delivery")
	if delivery == "" || len(delivery) > 100 {
		return invalid("", "missing or invalid X-GitHub-Delivery")
	}
	auditFrom(r.Context()).setObject("delivery", delivery)
	push, err := github.ParsePush(body)
	if err != nil {
		return invalid("", "%v", err)
	}
	reply, err := o.buildPush(r.Context(), delivery, push)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(reply.Builds) > 0 {
		status = http.StatusAccepted
	}
	writeJSON(w, status, reply)
	return nil
}

// errDuplicate ends the transaction of a delivery already acted on.
var errDuplicate = errors.New("duplicate delivery")

// buildPush queues the builds of a push. The delivery ID is recorded in
// the transaction that queues them, so a replay or a redelivery (even
// concurrent) builds nothing twice.
func (o *Operator) buildPush(ctx context.Context, delivery string, push github.Push) (webhookReply, error) {
	switch seen, err := o.store.GitHubDeliverySeen(ctx, delivery); {
	case err != nil:
		return webhookReply{}, err
	case seen:
		return webhookReply{Ignored: "duplicate delivery " + delivery}, nil
	case push.Deleted:
		return webhookReply{Ignored: "branch deleted"}, nil
	case push.Branch == "":
		return webhookReply{Ignored: "not a branch"}, nil
	}
	projects, err := o.store.ListProjectsByGitHubRepo(ctx, push.Repo)
	if err != nil {
		return webhookReply{}, err
	}
	if len(projects) == 0 {
		return webhookReply{Ignored: "no project is linked to " + push.Repo}, nil
	}
	// Each linked project's organisation sees the delivery in its log,
	// with its build once queued.
	for _, p := range projects {
		auditProject(ctx, p)
	}
	if o.cfg.Builder == nil {
		return webhookReply{}, &apiError{http.StatusServiceUnavailable, "no builder configured on this operator", ""}
	}
	reply, queued, err := o.pushContexts(ctx, push, projects)
	if err != nil {
		return reply, err
	}
	var ended []string // per build, why it failed at once, or ""
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		switch n, err := q.InsertGitHubDelivery(ctx, delivery); {
		case err != nil:
			return err
		case n == 0:
			return errDuplicate
		}
		for _, qb := range queued {
			b, err := o.insertPushBuild(ctx, q, qb, push)
			if err != nil {
				return err
			}
			reply.Builds = append(reply.Builds, b.ID.String())
			auditFrom(ctx).setTargetObject(qb.project.ID, "build", b.ID.String())
			ended = append(ended, qb.reason)
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		return webhookReply{Ignored: "duplicate delivery " + delivery}, nil
	}
	if err != nil {
		return reply, fmt.Errorf("queue builds of %s@%s: %w", push.Repo, push.After, err)
	}
	for i, id := range reply.Builds {
		line := "zeitwork: build queued for " + push.Repo + "@" + push.After[:12] + " (" + push.Branch + ")"
		if ended[i] != "" {
			line = "zeitwork: build failed: " + ended[i]
		}
		o.buildLog(ctx, uuid.MustParse(id), line)
	}
	o.hub.Bump()
	return reply, nil
}

// pushBuild is one project's build of a push, ready to queue, or, with
// a reason, failed before it could be (no Dockerfile, a root directory
// missing in the commit): such a build is recorded as failed, so that the
// user sees why in `zeitwork builds`, the API and the commit status.
type pushBuild struct {
	project db.Project
	src     buildSource
	archive []byte
	reason  string
}

// pushContexts fetches the pushed commit once and cuts each project's
// build context from it.
func (o *Operator) pushContexts(ctx context.Context, push github.Push, projects []db.Project) (webhookReply, []pushBuild, error) {
	var reply webhookReply
	app, _, err := o.githubApp(ctx)
	if err != nil {
		return reply, nil, err
	}
	tarball, err := app.Tarball(ctx, push.Installation, push.Repo, push.After, o.cfg.BuildContextMaxBytes)
	if err != nil {
		return reply, nil, &apiError{http.StatusBadGateway, err.Error(), "GitHub may redeliver the event; check the App's installation"}
	}
	var out []pushBuild
	for _, p := range projects {
		src := buildSource{Kind: "git", Commit: push.After, Branch: push.Branch, Message: push.Message,
			Author: push.Author, Dockerfile: p.Dockerfile}
		archive, err := github.BuildContext(tarball, p.RootDir, p.Dockerfile, o.cfg.BuildContextMaxBytes)
		if err == nil {
			err = o.checkBuildContext(archive, &src)
		}
		if err != nil {
			reply.Errors = append(reply.Errors, p.Name+": "+err.Error())
			out = append(out, pushBuild{project: p, src: src, reason: err.Error()})
			continue
		}
		out = append(out, pushBuild{project: p, src: src, archive: archive})
	}
	return reply, out, nil
}

// insertPushBuild queues one build of a push in the caller's transaction,
// as enqueueBuild does, and remembers where to report its status.
func (o *Operator) insertPushBuild(ctx context.Context, q *db.Queries, pb pushBuild, push github.Push) (db.Build, error) {
	p, src := pb.project, pb.src
	if err := o.learnFromPush(ctx, q, &p, push); err != nil {
		return db.Build{}, err
	}
	b, err := insertBuild(ctx, q, p, src)
	if err != nil {
		return b, err
	}
	err = q.SetBuildGitHub(ctx, db.SetBuildGitHubParams{ID: b.ID, GithubRepo: push.Repo, GithubInstallationID: push.Installation})
	if err != nil {
		return b, err
	}
	if pb.reason != "" {
		return o.transitionBuild(ctx, q, b, buildstate.Fail, pb.reason, "", false)
	}
	return b, q.PutBuildContext(ctx, db.PutBuildContextParams{BuildID: b.ID, Archive: pb.archive})
}

// learnFromPush records what a signed push tells about a project: the
// App installation that covers its repository and, unless a user chose
// one, the repository's default branch as the production branch.
func (o *Operator) learnFromPush(ctx context.Context, q *db.Queries, p *db.Project, push github.Push) error {
	err := q.SetProjectGitHubInstallation(ctx, db.SetProjectGitHubInstallationParams{ID: p.ID, GithubInstallationID: push.Installation})
	if err != nil || p.ProductionBranchSet || push.DefaultBranch == "" {
		return err
	}
	p.ProductionBranch = push.DefaultBranch
	return q.FollowDefaultBranch(ctx, db.FollowDefaultBranchParams{ID: p.ID, ProductionBranch: push.DefaultBranch})
}

// clipString cuts s to n bytes for messages.
func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
