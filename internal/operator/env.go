package operator

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

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
	if reservedEnv[name] {
		return invalid("choose another name; PORT is set by Zeitwork", "env var %s is reserved", name)
	}
	v, err := readVarValue(r, "env var", name)
	if err != nil {
		return err
	}
	if err := o.checkVar("env var", name, v.Value); err != nil {
		return err
	}
	sealed := o.cfg.Sealer.Seal([]byte(v.Value), sealContext(p.ID, name))
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		if err := o.checkEnvLimits(r.Context(), q, p, name, len(v.Value)); err != nil {
			return err
		}
		return q.SetEnvVar(r.Context(), db.SetEnvVarParams{ProjectID: p.ID, Name: name, Sealed: sealed})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// envSize is what one variable costs in the app's environment: "NAME=value".
func envSize(name string, valueLen int) int { return len(name) + 1 + valueLen }

// checkVar refuses a name or value no env var or build arg may have
// (what says which).
func (o *Operator) checkVar(what, name, value string) error {
	if !envName.MatchString(name) {
		return invalid("use up to 128 ASCII letters, digits and underscores, not starting with a digit",
			"invalid %s name %q", what, name)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return invalid("remove the NUL byte; a process's environment cannot hold one", "%s %s contains a NUL byte", what, name)
	}
	if envSize(name, len(value)) > o.cfg.EnvMaxBytes {
		return tooLarge("keep large data out of "+what+"s, e.g. in a file the app fetches",
			"%s %s is too large: %d bytes, limit %d for all of a project's %ss", what, name, len(value), o.cfg.EnvMaxBytes, what)
	}
	return nil
}

// checkEnvLimits refuses a write that would give project p more than
// EnvMaxVars variables or more than EnvMaxBytes of them in all: env vars
// are delivered to every instance and into every VM's memory, so one
// tenant's must stay small. It locks the project's row so that concurrent
// writes cannot each pass the check and together exceed the limits.
func (o *Operator) checkEnvLimits(ctx context.Context, q *db.Queries, p db.Project, name string, valueLen int) error {
	if _, err := q.LockProject(ctx, p.ID); err != nil {
		return err
	}
	vars, err := q.ListEnvVars(ctx, p.ID)
	if err != nil {
		return err
	}
	sizes := map[string]int{}
	for _, v := range vars {
		sizes[v.Name] = len(v.Sealed)
	}
	return o.checkVarLimits("env var", "zeitwork env unset", p, name, valueLen, sizes)
}

// checkVarLimits applies EnvMaxVars and EnvMaxBytes to a project's
// variables of one kind (what) after setting name to a value of valueLen
// bytes; sealed holds the sealed length of each variable set now. unset is
// the command that removes one.
func (o *Operator) checkVarLimits(what, unset string, p db.Project, name string, valueLen int, sealed map[string]int) error {
	overhead := len(o.cfg.Sealer.Seal(nil, ""))
	count, size := 1, envSize(name, valueLen)
	for n, l := range sealed {
		if n != name { // the variable being replaced does not count twice
			count++
			size += envSize(n, l-overhead)
		}
	}
	if count > o.cfg.EnvMaxVars {
		return tooLarge("unset those no longer used: `"+unset+" "+p.Name+" NAME`",
			"project %s may have at most %d %ss", p.Name, o.cfg.EnvMaxVars, what)
	}
	if size > o.cfg.EnvMaxBytes {
		return tooLarge("unset those no longer used, or keep large data in a file the app fetches",
			"setting %s would make project %s's %ss %d bytes, limit %d", name, p.Name, what, size, o.cfg.EnvMaxBytes)
	}
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

// varBody is the body of PUT .../env/{name} and .../build-args/{name}:
// api.EnvVar's fields, with Value a pointer so that a body without one
// ({} — most likely a client that dropped an empty string or a misspelt
// field) is refused instead of setting the variable to "".
type varBody struct {
	Name      string     `json:"name"`
	Value     *string    `json:"value"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// readVarValue reads a variable's new value; what names its kind.
func readVarValue(r *http.Request, what, name string) (api.EnvVar, error) {
	var b varBody
	if err := readJSON(r, &b); err != nil {
		return api.EnvVar{}, err
	}
	if b.Value == nil {
		return api.EnvVar{}, invalid(`send {"value": "..."}; an empty string is allowed, a missing value is not`,
			"the value of %s %s is missing", what, name)
	}
	return api.EnvVar{Name: name, Value: *b.Value}, nil
}
