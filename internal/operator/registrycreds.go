package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// A project's login to one external registry. The password is sealed
// under a context naming the project, host and user: copied into another
// project's row, or with the host changed in the database, it does not
// open. It is opened for three uses only, each for that project alone:
// the resolver pinning the project's deployments, the push of the
// project's builds to its repository, and the desired state of nodes
// running the project's instances. Every use goes through
// image.Egress.Remote, which sends it to that host and no other.

// Limits of what a registry login may be: generous for the long tokens
// of cloud registries, small enough to stay cheap in every delivery.
const (
	maxRegistryUser     = 256
	maxRegistryPassword = 8 << 10
)

func registrySealContext(project uuid.UUID, host, user string) string {
	return "registry/" + project.String() + "/" + host + "/" + user
}

func (o *Operator) putRegistry(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var in api.RegistryCredentials
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := o.checkRegistryCredentials(&in); err != nil {
		return err
	}
	sealed := o.cfg.Sealer.Seal([]byte(in.Password), registrySealContext(p.ID, in.Host, in.Username))
	c, err := o.store.SetRegistryCredentials(r.Context(), db.SetRegistryCredentialsParams{
		ProjectID: p.ID, Host: in.Host, Username: in.Username, SealedPassword: sealed, PushRepository: in.Repository,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, registryJSON(c))
	return nil
}

func (o *Operator) getRegistry(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	c, err := o.store.GetRegistryCredentials(r.Context(), p.ID)
	if isNotFound(store.Classify(err)) {
		return notFound("set them with `zeitwork registry set "+p.Name+" --host HOST --username USER --password-stdin`",
			"project %s has no registry credentials", p.Name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, registryJSON(c))
	return nil
}

func (o *Operator) deleteRegistry(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	n, err := o.store.DeleteRegistryCredentials(r.Context(), p.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("nothing to remove", "project %s has no registry credentials", p.Name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// registryJSON is the API's view of credentials: never the password.
func registryJSON(c db.RegistryCredential) api.RegistryCredentials {
	return api.RegistryCredentials{Host: c.Host, Username: c.Username, Repository: c.PushRepository, UpdatedAt: c.UpdatedAt}
}

// checkRegistryCredentials refuses what no login may be, and normalises
// the host as image references name it (docker.io is index.docker.io).
func (o *Operator) checkRegistryCredentials(in *api.RegistryCredentials) error {
	host := strings.ToLower(strings.TrimSpace(in.Host))
	if host == "" || strings.Contains(host, "/") {
		return invalid("give the registry's host, and port if not 443, without a scheme or path: registry.example.com or host:5000",
			"invalid registry host %q", in.Host)
	}
	reg, err := name.NewRegistry(host, name.StrictValidation)
	if err != nil {
		return invalid("give the registry's host, and port if not 443: registry.example.com or host:5000", "invalid registry host %q", in.Host)
	}
	in.Host = reg.RegistryStr()
	if o.egress.IsOwn(in.Host) {
		return invalid("push to and pull from the built-in registry with your API token; it needs no credentials",
			"%s is the built-in registry", in.Host)
	}
	if err := o.checkRegistryAddress(in.Host); err != nil {
		return err
	}
	if err := checkLogin("username", in.Username, maxRegistryUser); err != nil {
		return err
	}
	if strings.Contains(in.Username, ":") {
		return invalid("give the username without the colon; the password goes in its own field", "invalid registry username: it contains a colon")
	}
	if err := checkLogin("password", in.Password, maxRegistryPassword); err != nil {
		return err
	}
	return checkPushRepository(in)
}

// checkLogin refuses an empty, oversized or unprintable username or
// password; the password itself never appears in the message.
func checkLogin(what, v string, max int) error {
	switch {
	case v == "":
		return invalid("give the registry's "+what+" (for a token, the token)", "registry %s is missing", what)
	case len(v) > max:
		return tooLarge("check that you gave the "+what+" itself", "registry %s is too long: %d bytes, limit %d", what, len(v), max)
	case strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) >= 0:
		return invalid("remove spaces, newlines and control characters (a trailing newline from a file or a pipe, say)",
			"registry %s contains characters no registry accepts", what)
	}
	return nil
}

// checkPushRepository checks the push target: a repository on the
// credentials' host, without tag or digest (builds are tagged build-<id>).
func checkPushRepository(in *api.RegistryCredentials) error {
	if in.Repository == "" {
		return nil
	}
	repo, err := name.NewRepository(in.Repository, name.StrictValidation)
	if err != nil {
		return invalid("give a repository such as "+in.Host+"/acme/web, without tag or digest",
			"invalid push repository %q", in.Repository)
	}
	if repo.RegistryStr() != in.Host {
		return invalid("push to a repository on "+in.Host+", or set credentials for "+repo.RegistryStr(),
			"push repository %s is not on the credentials' registry %s", in.Repository, in.Host)
	}
	in.Repository = repo.Name()
	return nil
}

// projectRegistry opens the project's registry credentials; nil without.
func (o *Operator) projectRegistry(ctx context.Context, project uuid.UUID) (*image.Credentials, string, error) {
	c, err := o.store.GetRegistryCredentials(ctx, project)
	if isNotFound(store.Classify(err)) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	plain, err := o.cfg.Sealer.Open(c.SealedPassword, registrySealContext(project, c.Host, c.Username))
	if err != nil {
		return nil, "", fmt.Errorf("open registry credentials of project %s: %w", project, err)
	}
	return &image.Credentials{Host: c.Host, Username: c.Username, Password: string(plain)}, c.PushRepository, nil
}

// registryFor is the project's credentials if ref is on their host.
func (o *Operator) registryFor(ctx context.Context, project uuid.UUID, ref string) (*image.Credentials, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, nil
	}
	c, _, err := o.projectRegistry(ctx, project)
	if err != nil || c == nil || c.Host != parsed.Context().RegistryStr() {
		return nil, err
	}
	return c, nil
}

// registryAuthCache opens each project's registry credentials at most
// once per desired state, for the instances whose image is on their host.
type registryAuthCache struct {
	o     *Operator
	creds map[uuid.UUID]*image.Credentials
}

func (c *registryAuthCache) get(ctx context.Context, project uuid.UUID, ref string) (*api.RegistryAuth, error) {
	creds, ok := c.creds[project]
	if !ok {
		var err error
		if creds, _, err = c.o.projectRegistry(ctx, project); err != nil {
			return nil, err
		}
		c.creds[project] = creds
	}
	parsed, err := name.ParseReference(ref)
	if creds == nil || err != nil || parsed.Context().RegistryStr() != creds.Host {
		return nil, nil
	}
	return &api.RegistryAuth{Host: creds.Host, Username: creds.Username, Password: creds.Password}, nil
}
