package operator

import (
	"context"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The status notifier reports builds from push events back to GitHub as
// commit statuses: pending while the build and its deployment are under
// way, then success (with the URL) or failure (with the reason). It runs
// beside the build and deployment life cycle, woken by their status
// changes, and never holds them up: what it fails to post it retries a
// few times, then on a later pass.

// githubStatusLoop reports statuses on every change and every Resync,
// and forgets old delivery IDs once an hour.
func (o *Operator) githubStatusLoop(ctx context.Context) {
	tick := time.NewTicker(o.cfg.Resync)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		_, changed := o.hub.Version()
		if _, err := o.exclusively(ctx, githubStatusLock, o.reportGitHubStatuses); err != nil && ctx.Err() == nil {
			o.log.Warn("report github statuses", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			o.pruneGitHubDeliveries(ctx)
			lastPrune = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

func (o *Operator) pruneGitHubDeliveries(ctx context.Context) {
	keep := o.cfg.GitHubDeliveryRetention
	if keep <= 0 {
		keep = 7 * 24 * time.Hour
	}
	if _, err := o.store.PruneGitHubDeliveries(ctx, keep.Seconds()); err != nil && ctx.Err() == nil {
		o.log.Warn("prune github deliveries", "err", err)
	}
}

// reportGitHubStatuses posts what changed since the last pass. A build
// reported for the first time gets pending first, so that the commit
// shows it was picked up even if it is over by now.
// One replica at a time reports (githubStatusLock), so that none posts a
// status another is posting.
func (o *Operator) reportGitHubStatuses(ctx context.Context) error {
	rows, err := o.store.ListGitHubBuildsToReport(ctx, 50)
	if err != nil || len(rows) == 0 {
		if err != nil && ctx.Err() == nil {
			o.log.Warn("list github statuses to report", "err", err)
		}
		return nil
	}
	app, _, err := o.githubApp(ctx)
	if err != nil {
		return nil
	}
	for _, row := range rows {
		want := o.commitStatus(row)
		if row.GithubReported == "" && want.State != "pending" {
			if !o.postStatus(ctx, app, row, github.Status{State: "pending", Description: "Build queued", Context: want.Context}) {
				continue
			}
		}
		if want.State == row.GithubReported {
			continue
		}
		o.postStatus(ctx, app, row, want)
	}
	return nil
}

// postStatus posts s, retrying a few times, and records it as reported.
func (o *Operator) postStatus(ctx context.Context, app *github.App, row db.ListGitHubBuildsToReportRow, s github.Status) bool {
	var err error
	for attempt, wait := 0, 200*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if err = app.SetStatus(ctx, row.GithubInstallationID, row.GithubRepo, row.CommitSha, s); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
	if err != nil {
		// The error names the repository and commit, never the token.
		o.log.Warn("post github status", "build", row.ID, "state", s.State, "err", err)
		return false
	}
	if err := o.store.SetBuildGitHubReported(ctx, db.SetBuildGitHubReportedParams{ID: row.ID, GithubReported: s.State}); err != nil {
		o.log.Warn("record github status", "build", row.ID, "err", err)
		return false
	}
	return true
}

// commitStatus is the status a build and its deployment stand at.
func (o *Operator) commitStatus(row db.ListGitHubBuildsToReportRow) github.Status {
	s := github.Status{Context: "zeitwork/" + row.ProjectName}
	switch row.Status {
	case "queued":
		s.State, s.Description = "pending", "Build queued"
	case "building", "pushing":
		s.State, s.Description = "pending", "Building"
	case "failed":
		s.State, s.Description = "failure", "Build failed: "+row.Reason
	case "cancelled":
		s.State, s.Description = "failure", "Build cancelled"
	case "done":
		return o.deploymentStatus(row, s)
	}
	return s
}

func (o *Operator) deploymentStatus(row db.ListGitHubBuildsToReportRow, s github.Status) github.Status {
	switch row.DeploymentStatus {
	case api.StatusReady:
		s.State, s.Description = "success", "Deployed"
		s.TargetURL = o.appURL(row.ProjectName)
		if row.Preview {
			s.Description = "Preview deployed"
			s.TargetURL = o.appURL(api.VersionedLabel(row.ProjectName, row.DeploymentSlug))
		}
	case "deploying":
		s.State, s.Description = "pending", "Deploying"
	case "":
		s.State, s.Description = "failure", "The deployment was deleted"
	default:
		s.State, s.Description = "failure", "Deployment "+row.DeploymentStatus+": "+row.DeploymentReason
	}
	return s
}
