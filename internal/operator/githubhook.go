package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// webhookReply is the body of a webhook answer, for GitHub's delivery log.
type webhookReply struct {
	Ignored string   `json:"ignored,omitempty"`
	Builds  []string `json:"builds,omitempty"`
}

// githubWebhook takes GitHub's deliveries. Nothing of the body is read
// before its signature checks out; a push to a linked repository queues
// a build of exactly the pushed commit for every project linked to it.
// It answers at once: the commit is fetched by the build, since GitHub
// gives up on a delivery after 10 s.
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
	var reply webhookReply
	err = o.store.Tx(ctx, func(q *db.Queries, _ pgxTx) error {
		switch n, err := q.InsertGitHubDelivery(ctx, delivery); {
		case err != nil:
			return err
		case n == 0:
			return errDuplicate
		}
		for _, p := range projects {
			b, err := o.insertPushBuild(ctx, q, p, push)
			if err != nil {
				return err
			}
			reply.Builds = append(reply.Builds, b.ID.String())
			auditFrom(ctx).setTargetObject(p.ID, "build", b.ID.String())
			// In the transaction, so that it comes before the builder's lines.
			if err := q.AddBuildLogLine(ctx, db.AddBuildLogLineParams{BuildID: b.ID,
				Line: "zeitwork: build queued for " + push.Repo + "@" + push.After[:12] + " (" + push.Branch + ")"}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		return webhookReply{Ignored: "duplicate delivery " + delivery}, nil
	}
	if err != nil {
		return reply, fmt.Errorf("queue builds of %s@%s: %w", push.Repo, push.After, err)
	}
	o.hub.Bump()
	return reply, nil
}

// insertPushBuild queues one build of a push in the caller's transaction,
// as enqueueBuild does, with where to fetch the commit from when it runs
// (githubfetch.go) and where to report its status.
func (o *Operator) insertPushBuild(ctx context.Context, q *db.Queries, p db.Project, push github.Push) (db.Build, error) {
	if err := o.learnFromPush(ctx, q, &p, push); err != nil {
		return db.Build{}, err
	}
	src := buildSource{Kind: "git", Commit: push.After, Branch: push.Branch, Message: push.Message,
		Author: push.Author, Dockerfile: p.Dockerfile}
	b, err := insertBuild(ctx, q, p, src)
	if err != nil {
		return b, err
	}
	return b, q.SetBuildGitHubSource(ctx, db.SetBuildGitHubSourceParams{ID: b.ID, GithubRepo: push.Repo,
		GithubInstallationID: push.Installation, RootDir: p.RootDir})
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
