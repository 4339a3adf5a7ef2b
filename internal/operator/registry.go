package operator

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/registry"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// registryHandler serves the built-in OCI registry. Users push with their
// API token; nodes pull with theirs, only what their instances run; edges
// may not touch it.
func (o *Operator) registryHandler() (*registry.Registry, error) {
	st := o.cfg.RegistryStorage
	if st == nil {
		dir := o.cfg.RegistryDir
		if dir == "" {
			dir = filepath.Join(".", "registry")
		}
		var err error
		if st, err = registry.NewFS(dir); err != nil {
			return nil, err
		}
	}
	return registry.NewWithStorage(st, func(r *http.Request) error {
		p, err := o.authenticate(r)
		if err != nil {
			return err
		}
		auditFrom(r.Context()).setActor(actorOf(p))
		if p.kind == kindEdge {
			return fmt.Errorf("edge tokens may not use the registry: %w", registry.ErrForbidden)
		}
		if p.kind == kindNode {
			return o.authorizeNodePull(r, p)
		}
		if p.kind == kindUser || p.kind == kindBuild {
			return o.authorizeRepos(r, p)
		}
		return nil
	}, o.log, registry.WithMaxBlobSize(o.cfg.RegistryMaxBlobSize), registry.WithMaxManifestSize(o.cfg.RegistryMaxManifestSize)), nil
}

// authorizeRepos keeps tenants apart in the shared registry: a repository
// is named after a project ("<project>" or "<project>/..."), and a user may
// only touch, or mount blobs from, repositories of their organisation's
// projects.
//
// Pulling needs the viewer role, pushing the developer role; a token
// limited to some projects touches only their repositories. A user token
// not tied to one organisation acts, for each repository, in the
// organisation of its project (registry clients name no organisation).
func (o *Operator) authorizeRepos(r *http.Request, p principal) error {
	least := roleViewer
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		least = roleDeveloper
	}
	repos := []string{repository(r.URL.Path)}
	if from := r.URL.Query().Get("from"); from != "" {
		repos = append(repos, from)
	}
	for _, repo := range repos {
		if repo == "" {
			continue // the base endpoint /v2/
		}
		project, _, _ := strings.Cut(repo, "/")
		q, err := o.inProjectOrg(r.Context(), p, project)
		if err != nil {
			return err
		}
		if q.role < least {
			return fmt.Errorf("pushing needs the developer role, pulling the viewer role, in the organisation of %s: %w", repo, registry.ErrForbidden)
		}
		ok, err := o.repoInOrg(r.Context(), q.orgID, repo)
		if err != nil {
			return err
		}
		if ok && len(q.projects) > 0 {
			ok, err = o.repoInScope(r.Context(), q, repo)
			if err != nil {
				return err
			}
		}
		if !ok {
			return fmt.Errorf("repository %s does not belong to a project of yours; name images after a project: %w", repo, registry.ErrForbidden)
		}
	}
	return nil
}

// authorizeNodePull lets a node read only the repositories of the images
// its own instances run: a stolen node token must not open every tenant's
// images.
func (o *Operator) authorizeNodePull(r *http.Request, p principal) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("nodes may only pull: %w", registry.ErrForbidden)
	}
	repo := repository(r.URL.Path)
	if repo == "" {
		return nil // the base endpoint /v2/
	}
	ok, err := o.nodeMayPull(r.Context(), p.nodeID, repo)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no instance on this node runs an image of %s: %w", repo, registry.ErrForbidden)
	}
	return nil
}

// repository is the repository name a /v2/ request path names, or "".
func repository(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		if i := strings.Index(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

// repoInScope reports whether a repository of p's organisation belongs to
// one of the projects p's token is limited to.
func (o *Operator) repoInScope(ctx context.Context, p principal, repo string) (bool, error) {
	name, _, _ := strings.Cut(repo, "/")
	pr, err := o.store.GetProjectByName(ctx, db.GetProjectByNameParams{OrganisationID: p.orgID, Name: name})
	if err != nil {
		return false, err
	}
	return p.mayUseProject(pr.ID), nil
}
