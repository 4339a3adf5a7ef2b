package operator

import (
	"net/http"
	"path"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// updateProject changes where a project's builds come from: the linked
// GitHub repository, the production branch, the root directory and the
// Dockerfile; its rate limits and HTTPS settings at the edge; its regions
// and scale to zero settings; its port, health path, instance size and
// minimum per region. Fields left out keep their value.
func (o *Operator) updateProject(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var req api.UpdateProjectRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	params := db.UpdateProjectSourceParams{ID: p.ID, GithubRepo: p.GithubRepo, ProductionBranch: p.ProductionBranch,
		RootDir: p.RootDir, Dockerfile: p.Dockerfile}
	if err := applySource(&params, req); err != nil {
		return err
	}
	limits, setLimits, err := rateLimitParams(p, req)
	if err != nil {
		return err
	}
	https, setHTTPS, err := httpsParams(p, req)
	if err != nil {
		return err
	}
	regions, setRegions, err := regionsParam(req)
	if err != nil {
		return err
	}
	idle, setIdle, err := scaleToZeroParams(p, req)
	if err != nil {
		return err
	}
	runtime, setRuntime, err := runtimeParams(p, req)
	if err != nil {
		return err
	}
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		if params.GithubRepo != "" {
			// A repository is built for one organisation only: another
			// could otherwise link a repository it cannot read and have
			// its code built into its own project.
			n, err := q.CountRepoLinksOutsideOrganisation(r.Context(), db.CountRepoLinksOutsideOrganisationParams{
				Repo: params.GithubRepo, OrganisationID: p.OrganisationID})
			if err != nil {
				return err
			}
			if n > 0 {
				return conflict("ask the repository's owner, or link another repository",
					"repository %s is linked by another organisation", params.GithubRepo)
			}
		}
		p, err = q.UpdateProjectSource(r.Context(), params)
		if err == nil && setLimits {
			p, err = q.UpdateProjectRateLimits(r.Context(), limits)
		}
		if err == nil && setHTTPS {
			p, err = q.UpdateProjectHTTPS(r.Context(), https)
		}
		if err == nil && setRegions {
			p, err = q.UpdateProjectRegions(r.Context(), db.UpdateProjectRegionsParams{ID: p.ID, Regions: regions})
		}
		if err == nil && setIdle {
			p, err = q.UpdateProjectScaleToZero(r.Context(), idle)
		}
		if err == nil && setRuntime {
			p, err = q.UpdateProjectRuntime(r.Context(), runtime)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.projectJSON(p, o.liveSlug(r, p)))
	return nil
}

// applySource checks and applies the request's fields to params.
func applySource(params *db.UpdateProjectSourceParams, req api.UpdateProjectRequest) error {
	if req.Repo != nil {
		repo := strings.TrimSuffix(strings.TrimPrefix(*req.Repo, "https://github.com/"), ".git")
		if repo != "" && !github.ValidRepo(repo) {
			return invalid("give the repository as owner/name, e.g. acme/web", "invalid repository %q", *req.Repo)
		}
		params.GithubRepo = repo
	}
	if req.ProductionBranch != nil {
		b := *req.ProductionBranch
		if !api.ValidBranch(b) {
			return invalid("give a branch name, e.g. main", "invalid production branch %q", b)
		}
		params.ProductionBranch, params.BranchSet = b, true
	}
	if req.RootDir != nil {
		d, err := relPath(*req.RootDir, "root directory")
		if err != nil {
			return err
		}
		params.RootDir = d
	}
	if req.Dockerfile != nil {
		f, err := relPath(*req.Dockerfile, "Dockerfile path")
		if err != nil || f == "." {
			return invalid("give the Dockerfile's path relative to the root directory, e.g. Dockerfile", "invalid Dockerfile path %q", *req.Dockerfile)
		}
		params.Dockerfile = f
	}
	return nil
}

// relPath cleans a path inside the repository, refusing one that leaves it.
func relPath(s, what string) (string, error) {
	if s == "" {
		s = "."
	}
	p := path.Clean(strings.TrimPrefix(s, "./"))
	if path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") || len(p) > 1024 || strings.ContainsRune(p, 0) {
		return "", invalid("give a path relative to the repository's root, e.g. services/web", "invalid %s %q", what, s)
	}
	return p, nil
}
