package operator

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// ValidProjectName reports why a name cannot be a project name, or nil.
// Project names become DNS labels ("<name>.<domain>", and
// "<deployment>--<name>.<domain>" for versioned URLs; see api.VersionedLabel).
func ValidProjectName(name string) error {
	if strings.Contains(name, api.VersionSeparator) {
		return invalid("use single hyphens, e.g. my-app",
			"invalid project name %q: \"--\" is reserved for versioned deployment URLs (<deployment>--<project>)", name)
	}
	if !api.IsProjectName(name) {
		return invalid("use 1 to 40 lower-case letters, digits and single hyphens, starting with a letter, e.g. my-app",
			"invalid project name %q", name)
	}
	return nil
}

func (o *Operator) createProject(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateProjectRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("project", req.Name)
	if err := ValidProjectName(req.Name); err != nil {
		return err
	}
	if req.Port == 0 {
		req.Port = 8080
	}
	if req.Port < 1 || req.Port > 65535 {
		return invalid("", "invalid port %d: use 1 to 65535", req.Port)
	}
	if req.HealthPath != "" && (!strings.HasPrefix(req.HealthPath, "/") || len(req.HealthPath) > 256 || strings.ContainsAny(req.HealthPath, " \r\n")) {
		return invalid("use an absolute path such as /healthz", "invalid health_path %q", req.HealthPath)
	}
	if req.MemoryMiB == 0 {
		req.MemoryMiB = o.cfg.InstanceMemory
	}
	if req.MemoryMiB < 64 || req.MemoryMiB > 65536 {
		return invalid("give the guest's memory in MiB, e.g. 512", "invalid memory_mib %d: use 64 to 65536", req.MemoryMiB)
	}
	if req.VCPUs == 0 {
		req.VCPUs = 1
	}
	if req.VCPUs < 1 || req.VCPUs > 64 {
		return invalid("", "invalid vcpus %d: use 1 to 64", req.VCPUs)
	}
	if req.MinInstancesPerRegion == 0 {
		req.MinInstancesPerRegion = 3
	}
	if req.MinInstancesPerRegion < 1 || req.MinInstancesPerRegion > 100 {
		return invalid("", "invalid min_instances_per_region %d: use 1 to 100", req.MinInstancesPerRegion)
	}
	p, err := o.store.CreateProject(r.Context(), db.CreateProjectParams{
		ID: uuid.New(), OrganisationID: principalFrom(r.Context()).orgID, Name: req.Name,
		MinInstancesPerRegion: int32(req.MinInstancesPerRegion), Port: int32(req.Port), HealthPath: req.HealthPath,
		MemoryMib: int32(req.MemoryMiB), Vcpus: int32(req.VCPUs),
	})
	if err != nil {
		if err = store.Classify(err); isConflict(err) {
			return conflict("choose another name", "a project named %q already exists", req.Name)
		}
		return err
	}
	auditProject(r.Context(), p)
	writeJSON(w, http.StatusCreated, o.projectJSON(p, ""))
	return nil
}

func (o *Operator) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := o.store.ListProjects(r.Context(), principalFrom(r.Context()).orgID)
	if err != nil {
		return err
	}
	out := []api.Project{}
	for _, p := range ps {
		out = append(out, o.projectJSON(p, o.liveSlug(r, p)))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (o *Operator) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.projectJSON(p, o.liveSlug(r, p)))
	return nil
}

// project loads the {project} of the path within the caller's organisation.
func (o *Operator) project(r *http.Request) (db.Project, error) {
	name := r.PathValue("project")
	p, err := o.store.GetProjectByName(r.Context(), db.GetProjectByNameParams{
		OrganisationID: principalFrom(r.Context()).orgID, Name: name,
	})
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return p, &apiError{http.StatusNotFound, fmt.Sprintf("project %q not found", name), "list projects with `zeitwork projects list`"}
		}
		return p, err
	}
	auditProject(r.Context(), p)
	if err := checkProjectScope(r, p); err != nil {
		return p, err
	}
	return p, nil
}

// checkProjectScope refuses a project a token limited to others may not
// act on (the project is already known to be of the caller's organisation).
func checkProjectScope(r *http.Request, p db.Project) error {
	if principalFrom(r.Context()).mayUseProject(p.ID) {
		return nil
	}
	return &apiError{http.StatusForbidden, fmt.Sprintf("this token may not act on project %q", p.Name),
		"use a token for that project, or one without a project limit"}
}

func (o *Operator) liveSlug(r *http.Request, p db.Project) string {
	if !p.LiveDeploymentID.Valid {
		return ""
	}
	d, err := o.store.GetDeployment(r.Context(), p.LiveDeploymentID.UUID)
	if err != nil {
		return ""
	}
	return d.Slug
}

func (o *Operator) projectJSON(p db.Project, live string) api.Project {
	return api.Project{
		ID: p.ID.String(), Name: p.Name, URL: o.appURL(p.Name), Port: int(p.Port), HealthPath: p.HealthPath,
		MemoryMiB: int(p.MemoryMib), VCPUs: int(p.Vcpus),
		MinInstancesPerRegion: int(p.MinInstancesPerRegion), LiveDeployment: live, CreatedAt: p.CreatedAt,
		Repo: p.GithubRepo, ProductionBranch: p.ProductionBranch, RootDir: p.RootDir, Dockerfile: p.Dockerfile,
		RateLimits: rateLimitsOrNil(p), HSTSMaxAge: int(p.HstsMaxAge), HTTPSRedirectVersioned: p.HttpsRedirectVersioned,
		Regions: p.Regions, ScaleToZero: p.ScaleToZero, IdleTimeoutSeconds: int(p.IdleTimeoutSeconds),
	}
}

// appURL is the URL users open for a host label under the apps domain.
func (o *Operator) appURL(label string) string {
	return strings.ReplaceAll(o.cfg.EdgeURL, "{host}", label+"."+o.cfg.AppsDomain)
}
