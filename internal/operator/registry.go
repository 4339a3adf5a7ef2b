package operator

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// registryHandler serves the built-in OCI registry. Users push with their
// API token; nodes pull with theirs, only what their instances run; edges
// may not touch it.
func (o *Operator) registryHandler() (*registry.Registry, error) {
	dir := o.cfg.RegistryDir
	if dir == "" {
		dir = filepath.Join(".", "registry")
	}
	return registry.New(dir, func(r *http.Request) error {
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
	}, o.log, registry.WithMaxBlobSize(o.cfg.RegistryMaxBlobSize), registry.WithMaxManifestSize(o.cfg.RegistryMaxManifestSize))
}

// authorizeRepos keeps tenants apart in the shared registry: a repository
// is named after a project ("<project>" or "<project>/..."), and a user may
// only touch, or mount blobs from, repositories of their organisation's
// projects.
func (o *Operator) authorizeRepos(r *http.Request, p principal) error {
	repos := []string{repository(r.URL.Path)}
	if from := r.URL.Query().Get("from"); from != "" {
		repos = append(repos, from)
	}
	for _, repo := range repos {
		if repo == "" {
			continue // the base endpoint /v2/
		}
		ok, err := o.repoInOrg(r.Context(), p.orgID, repo)
		if err != nil {
			return err
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
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/"} {
		if i := strings.Index(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}
