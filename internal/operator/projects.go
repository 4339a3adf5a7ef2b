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
	if req.MemoryMiB == 0 {
		req.MemoryMiB = o.cfg.InstanceMemory
	}
	if req.VCPUs == 0 {
		req.VCPUs = 1
	}
	if req.MinInstancesPerRegion == 0 {
		req.MinInstancesPerRegion = 3
	}
	if err := checkRuntime(req.Port, req.HealthPath, req.MemoryMiB, req.VCPUs, req.MinInstancesPerRegion); err != nil {
		return err
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
			return p, &apiError{http.StatusNotFound, fmt.Sprintf("project %q not found", name), projectNotFoundHint(name)}
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

// checkRuntime checks a project's port, health path, instance size and
// minimum per region; creating and updating a project share the rules.
func checkRuntime(port int, healthPath string, memoryMiB, vcpus, minPerRegion int) error {
	if port < 1 || port > 65535 {
		return invalid("", "invalid port %d: use 1 to 65535", port)
	}
	if healthPath != "" && (!strings.HasPrefix(healthPath, "/") || len(healthPath) > 256 || strings.ContainsAny(healthPath, " \r\n")) {
		return invalid("use an absolute path such as /healthz", "invalid health_path %q", healthPath)
	}
	if memoryMiB < 64 || memoryMiB > 65536 {
		return invalid("give the guest's memory in MiB, e.g. 512", "invalid memory_mib %d: use 64 to 65536", memoryMiB)
	}
	if vcpus < 1 || vcpus > 64 {
		return invalid("", "invalid vcpus %d: use 1 to 64", vcpus)
	}
	if minPerRegion < 1 || minPerRegion > 100 {
		return invalid("", "invalid min_instances_per_region %d: use 1 to 100", minPerRegion)
	}
	return nil
}

// runtimeParams checks the request's port, health path, size and minimum
// per region against the create rules; set is false when it has none.
func runtimeParams(p db.Project, req api.UpdateProjectRequest) (db.UpdateProjectRuntimeParams, bool, error) {
	port, mem, vcpus, min := int(p.Port), int(p.MemoryMib), int(p.Vcpus), int(p.MinInstancesPerRegion)
	health := p.HealthPath
	set := false
	for dst, v := range map[*int]*int{&port: req.Port, &mem: req.MemoryMiB, &vcpus: req.VCPUs, &min: req.MinInstancesPerRegion} {
		if v != nil {
			*dst, set = *v, true
		}
	}
	if req.HealthPath != nil {
		health, set = *req.HealthPath, true
	}
	params := db.UpdateProjectRuntimeParams{ID: p.ID, Port: int32(port), HealthPath: health,
		MemoryMib: int32(mem), Vcpus: int32(vcpus), MinInstancesPerRegion: int32(min)}
	if !set {
		return params, false, nil
	}
	return params, true, checkRuntime(port, health, mem, vcpus, min)
}

// projectNotFoundHint says how to create the project a request named, when
// the name could be one (a newcomer's first deploy names a project that
// does not exist yet), and how to list the existing ones.
func projectNotFoundHint(name string) string {
	if api.IsProjectName(name) {
		return fmt.Sprintf("create it with `zeitwork projects create %s`, or list projects with `zeitwork projects list`", name)
	}
	return "list projects with `zeitwork projects list`"
}
