package operator

import (
	"context"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// reservedEnv are set by the platform itself.
var reservedEnv = map[string]bool{"PORT": true}

func sealContext(project uuid.UUID, name string) string { return project.String() + "/" + name }

func (o *Operator) listEnv(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	vars, err := o.store.ListEnvVars(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []api.EnvVar{}
	for _, v := range vars {
		out = append(out, api.EnvVar{Name: v.Name, UpdatedAt: v.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (o *Operator) setEnv(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if !envName.MatchString(name) || reservedEnv[name] {
		return invalid("use letters, digits and underscores, not starting with a digit; PORT is set by Zeitwork",
			"invalid env var name %q", name)
	}
	var v api.EnvVar
	if err := readJSON(r, &v); err != nil {
		return err
	}
	if len(v.Value) > 64<<10 {
		return invalid("", "env var %s is too large (%d bytes, limit 64 KiB)", name, len(v.Value))
	}
	err = o.store.SetEnvVar(r.Context(), db.SetEnvVarParams{
		ProjectID: p.ID, Name: name, Sealed: o.cfg.Sealer.Seal([]byte(v.Value), sealContext(p.ID, name)),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (o *Operator) deleteEnv(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	n, err := o.store.DeleteEnvVar(r.Context(), db.DeleteEnvVarParams{ProjectID: p.ID, Name: r.PathValue("name")})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("list them with `zeitwork env list "+p.Name+"`", "env var %q not found: it is not set on project %s", r.PathValue("name"), p.Name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// projectEnv opens a project's env vars for delivery to its instances.
func (o *Operator) projectEnv(ctx context.Context, project uuid.UUID) ([]string, error) {
	vars, err := o.store.ListEnvVars(ctx, project)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, v := range vars {
		plain, err := o.cfg.Sealer.Open(v.Sealed, sealContext(project, v.Name))
		if err != nil {
			return nil, err
		}
		env = append(env, v.Name+"="+string(plain))
	}
	return env, nil
}
