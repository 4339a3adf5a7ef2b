package operator

import "net/http"

func (o *Operator) routes() (*http.ServeMux, error) {
	users := []string{kindUser}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", o.require(users, o.getStatus))
	mux.HandleFunc("POST /v1/projects", o.require(users, o.createProject))
	mux.HandleFunc("GET /v1/projects", o.require(users, o.listProjects))
	mux.HandleFunc("GET /v1/projects/{project}", o.require(users, o.getProject))
	mux.HandleFunc("PATCH /v1/projects/{project}", o.require(users, o.updateProject))
	mux.HandleFunc("POST /v1/projects/{project}/deployments", o.require(users, o.createDeployment))
	mux.HandleFunc("GET /v1/projects/{project}/deployments", o.require(users, o.listDeployments))
	mux.HandleFunc("POST /v1/projects/{project}/rollback", o.require(users, o.rollback))
	mux.HandleFunc("GET /v1/projects/{project}/env", o.require(users, o.listEnv))
	mux.HandleFunc("PUT /v1/projects/{project}/env/{name}", o.require(users, o.setEnv))
	mux.HandleFunc("DELETE /v1/projects/{project}/env/{name}", o.require(users, o.deleteEnv))
	mux.HandleFunc("GET /v1/projects/{project}/build-args", o.require(users, o.listBuildArgs))
	mux.HandleFunc("PUT /v1/projects/{project}/build-args/{name}", o.require(users, o.setBuildArg))
	mux.HandleFunc("DELETE /v1/projects/{project}/build-args/{name}", o.require(users, o.deleteBuildArg))
	mux.HandleFunc("PUT /v1/projects/{project}/registry", o.require(users, o.putRegistry))
	mux.HandleFunc("GET /v1/projects/{project}/registry", o.require(users, o.getRegistry))
	mux.HandleFunc("DELETE /v1/projects/{project}/registry", o.require(users, o.deleteRegistry))
	mux.HandleFunc("POST /v1/projects/{project}/builds", o.require(users, o.createBuild))
	mux.HandleFunc("GET /v1/projects/{project}/builds", o.require(users, o.listBuilds))
	mux.HandleFunc("GET /v1/builds/{build}", o.require(users, o.getBuild))
	mux.HandleFunc("POST /v1/builds/{build}/cancel", o.require(users, o.cancelBuild))
	mux.HandleFunc("GET /v1/builds/{build}/logs", o.require(users, o.buildLogs))
	mux.HandleFunc("GET /v1/deployments/{deployment}", o.require(users, o.getDeployment))
	mux.HandleFunc("DELETE /v1/deployments/{deployment}", o.require(users, o.deleteDeployment))
	mux.HandleFunc("GET /v1/deployments/{deployment}/logs", o.require(users, o.streamLogs))
	mux.HandleFunc("GET /v1/audit", o.require(users, o.listAudit))

	mux.HandleFunc("POST /v1/webhooks/github", o.handle(o.githubWebhook))
	mux.HandleFunc("PUT /v1/github/app", o.requireAdmin(o.putGitHubApp))
	mux.HandleFunc("GET /v1/github/app", o.requireAdmin(o.getGitHubApp))
	mux.HandleFunc("GET /v1/github/created", githubCreated)

	nodes := []string{kindNode}
	mux.HandleFunc("POST /v1/nodes/register", o.registerNode)
	mux.HandleFunc("POST /v1/nodes/{node}/heartbeat", o.require(nodes, o.heartbeat))
	mux.HandleFunc("GET /v1/nodes/{node}/desired", o.require(nodes, o.desiredState))
	mux.HandleFunc("POST /v1/nodes/{node}/instances/{instance}", o.require(nodes, o.reportInstance))
	mux.HandleFunc("POST /v1/nodes/{node}/logs", o.require(nodes, o.shipLogs))

	mux.HandleFunc("GET /v1/edge/routes", o.require([]string{kindEdge}, o.edgeRoutes))

	reg, err := o.registryHandler()
	if err != nil {
		return nil, err
	}
	o.registry = reg
	mux.Handle("/v2/", reg)
	mux.HandleFunc("/git/", o.serveGit)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		o.writeError(w, r, notFound("see docs/api.md for the endpoints", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux, nil
}
