package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// sourceError is a build whose source could not be fetched or used (the
// App cannot read the repository, the commit is gone, the tree is over
// the limit or lacks its Dockerfile): the message is for the user as it
// stands, and ends up in `zeitwork builds`, the API and the commit status.
type sourceError struct{ msg string }

func (e *sourceError) Error() string { return e.msg }

// fetchGitHubContext downloads the commit of a build from a push event and
// cuts the project's build context from it. It runs in the build, not in
// the webhook: GitHub gives a delivery 10 s, and a tarball of a large
// repository takes longer.
func (o *Operator) fetchGitHubContext(ctx context.Context, b db.Build) ([]byte, error) {
	short := b.CommitSha[:min(12, len(b.CommitSha))]
	o.buildLog(ctx, b.ID, fmt.Sprintf("zeitwork: fetching %s@%s from GitHub", b.GithubRepo, short))
	app, _, err := o.githubApp(ctx)
	if err != nil {
		return nil, &sourceError{"cannot fetch the commit: " + err.Error()}
	}
	limit := o.cfg.BuildContextMaxBytes
	tarball, err := app.Tarball(ctx, b.GithubInstallationID, b.GithubRepo, b.CommitSha, limit)
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case errors.Is(err, github.ErrTooLarge):
		return nil, &sourceError{fmt.Sprintf("the commit %s of %s is over the build context limit of %d MiB: "+
			"set the project's root directory to the part that is built, or ask the operator to raise the limit", short, b.GithubRepo, limit>>20)}
	case err != nil:
		return nil, &sourceError{fmt.Sprintf("could not fetch %s@%s from GitHub (%v): "+
			"check that the App is installed on the repository and the commit exists", b.GithubRepo, short, err)}
	}
	archive, err := github.BuildContext(tarball, b.RootDir, b.Dockerfile, limit)
	if err == nil {
		src := buildSource{Dockerfile: b.Dockerfile}
		err = o.checkBuildContext(archive, &src)
	}
	if err != nil {
		return nil, &sourceError{err.Error()}
	}
	return archive, nil
}
