package operator

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Build args are the only values of a project's that reach its builds:
// env vars (the app's secrets) never do. They are sealed like env vars,
// with the same names and limits, but under their own seal context, so
// that an env var's ciphertext copied into build_args does not open (and
// the other way round).

func buildArgSealContext(project uuid.UUID, name string) string {
	return "build-arg/" + project.String() + "/" + name
}

func (o *Operator) listBuildArgs(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	args, err := o.store.ListBuildArgs(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []api.BuildArg{}
	for _, a := range args {
		out = append(out, api.BuildArg{Name: a.Name, UpdatedAt: a.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (o *Operator) setBuildArg(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	v, err := readVarValue(r, "build arg", name)
	if err != nil {
		return err
	}
	if err := o.checkVar("build arg", name, v.Value); err != nil {
		return err
	}
	// Refused now rather than when a build runs: the builder hands args
	// to its backend as environment variables.
	if err := build.CheckArgName(name); err != nil {
		return invalid("pick another name; the builder reserves names it reads itself", "%v", err)
	}
	sealed := o.cfg.Sealer.Seal([]byte(v.Value), buildArgSealContext(p.ID, name))
	err = o.store.Tx(r.Context(), func(q *db.Queries, _ pgxTx) error {
		if err := o.checkBuildArgLimits(r.Context(), q, p, name, len(v.Value)); err != nil {
			return err
		}
		return q.SetBuildArg(r.Context(), db.SetBuildArgParams{ProjectID: p.ID, Name: name, Sealed: sealed})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkBuildArgLimits is checkEnvLimits for build args: every build gets
// all of them on its command line and in its environment.
func (o *Operator) checkBuildArgLimits(ctx context.Context, q *db.Queries, p db.Project, name string, valueLen int) error {
	if _, err := q.LockProject(ctx, p.ID); err != nil {
		return err
	}
	args, err := q.ListBuildArgs(ctx, p.ID)
	if err != nil {
		return err
	}
	sizes := map[string]int{}
	for _, a := range args {
		sizes[a.Name] = len(a.Sealed)
	}
	return o.checkVarLimits("build arg", "zeitwork build-args unset", p, name, valueLen, sizes)
}

func (o *Operator) deleteBuildArg(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	n, err := o.store.DeleteBuildArg(r.Context(), db.DeleteBuildArgParams{ProjectID: p.ID, Name: r.PathValue("name")})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("list them with `zeitwork build-args list "+p.Name+"`",
			"build arg %q not found: it is not set on project %s", r.PathValue("name"), p.Name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// projectBuildArgs opens a project's build args for one build.
func (o *Operator) projectBuildArgs(ctx context.Context, project uuid.UUID) (map[string]string, error) {
	args, err := o.store.ListBuildArgs(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range args {
		plain, err := o.cfg.Sealer.Open(a.Sealed, buildArgSealContext(project, a.Name))
		if err != nil {
			return nil, fmt.Errorf("open build arg %s: %w", a.Name, err)
		}
		out[a.Name] = string(plain)
	}
	return out, nil
}
