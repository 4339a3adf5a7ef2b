package operator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Where deployments may take their images from. The built-in registry is
// shared by every tenant and the operator and nodes read it with
// credentials that can read everything, so a reference into it is only
// honoured when the deployment's organisation may pull that repository
// itself. Other registries are fetched without credentials, and only on
// public addresses unless the operator allowed them (image.Egress).

// repoInOrg reports whether a repository of the built-in registry belongs
// to the organisation: a repository is named after a project
// ("<project>" or "<project>/...").
func (o *Operator) repoInOrg(ctx context.Context, org uuid.UUID, repo string) (bool, error) {
	project, _, _ := strings.Cut(repo, "/")
	_, err := o.store.GetProjectByName(ctx, db.GetProjectByNameParams{OrganisationID: org, Name: project})
	if err == nil {
		return true, nil
	}
	if isNotFound(store.Classify(err)) {
		return false, nil
	}
	return false, err
}

// checkImageSource refuses, at deploy time, an image the organisation may
// not use: a built-in repository of another organisation, or a registry
// named by a non-public address the operator did not allow. (Names that
// resolve to such addresses are caught when the resolver dials.)
func (o *Operator) checkImageSource(ctx context.Context, org uuid.UUID, ref string) error {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil // reported by the caller's own parse
	}
	registry := parsed.Context().RegistryStr()
	if o.egress.IsOwn(registry) {
		repo := parsed.Context().RepositoryStr()
		ok, err := o.repoInOrg(ctx, org, repo)
		if err != nil {
			return err
		}
		if !ok {
			return &apiError{http.StatusForbidden,
				fmt.Sprintf("image repository %s does not belong to a project of your organisation", repo),
				fmt.Sprintf("push the image as %s/<project>[/...] for one of your projects", registry)}
		}
		return nil
	}
	return o.checkRegistryAddress(registry)
}

// checkRegistryAddress refuses a registry named by a non-public address
// the operator did not allow.
func (o *Operator) checkRegistryAddress(registry string) error {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && !image.PublicAddr(addr) && !o.egress.Allowed(registry) {
		return invalid("use a registry on a public address, or ask the operator to allow this one (--allow-registry)",
			"image registry %s is on a loopback, private or link-local address", registry)
	}
	return nil
}

// nodeMayPull reports whether a node may pull a repository of the built-in
// registry: only those that instances placed on it run.
func (o *Operator) nodeMayPull(ctx context.Context, node uuid.UUID, repo string) (bool, error) {
	refs, err := o.store.ListNodeImageRefs(ctx, uuid.NullUUID{UUID: node, Valid: true})
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		parsed, err := name.ParseReference(ref)
		if err == nil && o.egress.IsOwn(parsed.Context().RegistryStr()) && parsed.Context().RepositoryStr() == repo {
			return true, nil
		}
	}
	return false, nil
}

// checkImageScope refuses a token limited to some projects an image of the
// built-in registry from another project's repository: it may not pull
// those, so it may not run them either.
func (o *Operator) checkImageScope(r *http.Request, ref string) error {
	pr := principalFrom(r.Context())
	parsed, err := name.ParseReference(ref)
	if len(pr.projects) == 0 || err != nil || !o.egress.IsOwn(parsed.Context().RegistryStr()) {
		return nil
	}
	repo := parsed.Context().RepositoryStr()
	ok, err := o.repoInScope(r.Context(), pr, repo)
	if err != nil && !isNotFound(store.Classify(err)) {
		return err
	}
	if !ok {
		return &apiError{http.StatusForbidden, fmt.Sprintf("this token may not use images of repository %s", repo),
			"deploy an image pushed to this project's repository"}
	}
	return nil
}
