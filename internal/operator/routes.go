package operator

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// route is one endpoint and what it needs of the caller (roles.go).
type route struct {
	pattern string
	need    need
	h       func(http.ResponseWriter, *http.Request) error
}

// table is the API's policy table: every endpoint, and who may use it.
// routes registers nothing else, and refuses an entry without a need.
func (o *Operator) table() []route {
	return []route{
		{"GET /v1/status", inOrg(roleViewer), o.getStatus},
		{"POST /v1/projects", inOrg(roleAdmin), o.createProject},
		{"GET /v1/projects", inOrg(roleViewer), o.listProjects},
		{"GET /v1/projects/{project}", onProject(roleViewer), o.getProject},
		{"PATCH /v1/projects/{project}", onProject(roleAdmin), o.updateProject},
		{"DELETE /v1/projects/{project}", onProject(roleAdmin), o.deleteProject},
		{"POST /v1/projects/{project}/deployments", onProject(roleDeveloper), o.createDeployment},
		{"GET /v1/projects/{project}/deployments", onProject(roleViewer), o.listDeployments},
		{"POST /v1/projects/{project}/rollback", onProject(roleDeveloper), o.rollback},
		{"GET /v1/projects/{project}/env", onProject(roleDeveloper), o.listEnv},
		{"PUT /v1/projects/{project}/env/{name}", onProject(roleAdmin), o.setEnv},
		{"DELETE /v1/projects/{project}/env/{name}", onProject(roleAdmin), o.deleteEnv},
		{"GET /v1/projects/{project}/build-args", onProject(roleDeveloper), o.listBuildArgs},
		{"PUT /v1/projects/{project}/build-args/{name}", onProject(roleAdmin), o.setBuildArg},
		{"DELETE /v1/projects/{project}/build-args/{name}", onProject(roleAdmin), o.deleteBuildArg},
		{"PUT /v1/projects/{project}/registry", onProject(roleAdmin), o.putRegistry},
		{"GET /v1/projects/{project}/registry", onProject(roleDeveloper), o.getRegistry},
		{"DELETE /v1/projects/{project}/registry", onProject(roleAdmin), o.deleteRegistry},
		{"POST /v1/projects/{project}/builds", onProject(roleDeveloper), o.createBuild},
		{"GET /v1/projects/{project}/builds", onProject(roleViewer), o.listBuilds},
		{"GET /v1/builds/{build}", onProject(roleViewer), o.getBuild},
		{"POST /v1/builds/{build}/cancel", onProject(roleDeveloper), o.cancelBuild},
		{"GET /v1/builds/{build}/logs", onProject(roleDeveloper), o.buildLogs},
		{"GET /v1/deployments/{deployment}", onProject(roleViewer), o.getDeployment},
		{"DELETE /v1/deployments/{deployment}", onProject(roleDeveloper), o.deleteDeployment},
		{"GET /v1/deployments/{deployment}/logs", onProject(roleDeveloper), o.streamLogs},
		{"GET /v1/deployments/{deployment}/events", onProject(roleViewer), o.deploymentEvents},
		{"GET /v1/audit", inOrg(roleAdmin), o.listAudit},
		{"GET /v1/stream", onProject(roleViewer), o.streamChanges},
		{"POST /v1/projects/{project}/domains", onProject(roleAdmin), o.addDomain},
		{"GET /v1/projects/{project}/domains", onProject(roleViewer), o.listDomains},
		{"POST /v1/projects/{project}/domains/{domain}/verify", onProject(roleDeveloper), o.verifyDomain},
		{"DELETE /v1/projects/{project}/domains/{domain}", onProject(roleAdmin), o.removeDomain},
		{"GET /v1/domains", inOrg(roleViewer), o.listOrgDomains},
		{"GET /v1/projects/{project}/certificates", onProject(roleViewer), o.listProjectCertificates},

		{"GET /v1/orgs", anyUserToken, o.listOrgs},
		{"POST /v1/orgs", anyUser, o.createOrg},
		{"DELETE /v1/orgs/{org}", inOrg(roleOwner), o.deleteOrg},
		{"GET /v1/members", inOrg(roleViewer), o.listMembers},
		{"PATCH /v1/members/{email}", inOrg(roleOwner), o.setMemberRole},
		{"DELETE /v1/members/{email}", inOrg(roleOwner), o.removeMember},
		{"POST /v1/invitations", inOrg(roleOwner), o.createInvitation},
		{"GET /v1/invitations", inOrg(roleOwner), o.listInvitations},
		{"DELETE /v1/invitations/{id}", inOrg(roleOwner), o.revokeInvitation},
		{"POST /v1/invitations/accept", public, o.acceptInvitation},
		{"POST /v1/tokens", inOrg(roleViewer), o.createToken},
		{"GET /v1/tokens", anyUser, o.listTokens},
		{"DELETE /v1/tokens/{token}", anyUser, o.revokeToken},

		{"GET /v1/settings", installAdmin, o.getSettings},
		{"PUT /v1/settings", installAdmin, o.putSettings},
		{"POST /v1/signup", public, o.signup},

		// Browser sessions (sessions.go).
		{"POST /v1/session", public, o.signIn},
		{"GET /v1/session", anyUser, o.getSession},
		{"DELETE /v1/session", anyUser, o.signOut},
		{"POST /v1/session/revoke-all", anyUser, o.revokeAllSessions},
		{"POST /v1/session/link", public, o.signInWithLink},
		{"POST /v1/signin-links", installAdmin, o.createSignInLink},
		{"PUT /v1/user/password", anyUser, o.changePassword},

		{"POST /v1/webhooks/github", public, o.githubWebhook},
		{"PUT /v1/github/app", installAdmin, o.putGitHubApp},
		{"GET /v1/github/app", installAdmin, o.getGitHubApp},
		{"GET /v1/github/created", public, plain(githubCreated)},

		// Sign-in with GitHub (githubsignin.go, githubaccount.go).
		{"GET /v1/session/methods", public, o.signInMethods},
		{"GET /v1/github/oauth/start", public, o.githubSignInStart},
		{"GET /v1/github/oauth/callback", public, o.githubSignInCallback},
		{"GET /v1/user/github", anyUser, o.getGitHubIdentity},
		{"DELETE /v1/user/github", anyUser, o.unlinkGitHub},
		{"GET /v1/github/repositories", anyUser, o.listGitHubRepos},

		{"GET /v1/nodes", installAdmin, o.listNodes},
		{"POST /v1/nodes/{node}/drain", installAdmin, o.drainNode},
		{"POST /v1/nodes/{node}/undrain", installAdmin, o.undrainNode},
		{"POST /v1/nodes/register", public, plain(o.registerNode)},
		{"POST /v1/nodes/join-tokens", installAdmin, o.createJoinToken},
		{"DELETE /v1/nodes/{node}", installAdmin, o.removeNode},
		{"POST /v1/edges/register", public, o.registerEdge},
		{"GET /v1/edges", installAdmin, o.listEdges},
		{"DELETE /v1/edges/{edge}", installAdmin, o.removeEdge},
		{"POST /v1/nodes/{node}/heartbeat", tokenKind(kindNode), o.heartbeat},
		{"GET /v1/nodes/{node}/desired", tokenKind(kindNode), o.desiredState},
		{"POST /v1/nodes/{node}/instances/{instance}", tokenKind(kindNode), o.reportInstance},
		{"POST /v1/nodes/{node}/logs", tokenKind(kindNode), o.shipLogs},

		{"GET /v1/edge/routes", tokenKind(kindEdge), o.edgeRoutes},
		{"GET /v1/edge/certs/value", tokenKind(kindEdge), o.getEdgeCert},
		{"PUT /v1/edge/certs/value", tokenKind(kindEdge), o.putEdgeCert},
		{"DELETE /v1/edge/certs/value", tokenKind(kindEdge), o.deleteEdgeCert},
		{"GET /v1/edge/certs/stat", tokenKind(kindEdge), o.statEdgeCert},
		{"GET /v1/edge/certs/list", tokenKind(kindEdge), o.listEdgeCerts},
		{"POST /v1/edge/certs/locks/lock", tokenKind(kindEdge), o.lockEdgeCert},
		{"POST /v1/edge/certs/locks/refresh", tokenKind(kindEdge), o.refreshEdgeCertLock},
		{"POST /v1/edge/certs/locks/unlock", tokenKind(kindEdge), o.unlockEdgeCert},
		{"POST /v1/edge/certs/status", tokenKind(kindEdge), o.reportEdgeCert},
		{"GET /v1/edge/certs/status", tokenKind(kindEdge), o.getEdgeCertStatus},
		{"POST /v1/edge/logs", tokenKind(kindEdge), o.shipEdgeLogs},
		{"POST /v1/edge/activity", tokenKind(kindEdge), o.edgeActivity},
		{"POST /v1/edge/wake", tokenKind(kindEdge), o.edgeWake},
		{"PUT /v1/edge/acme-challenges", tokenKind(kindEdge), o.presentACMEChallenge},
		{"DELETE /v1/edge/acme-challenges", tokenKind(kindEdge), o.cleanupACMEChallenge},
		{"GET /v1/dns/acme-challenges", public, o.listACMEChallenges},
		{"GET /v1/projects/{project}/edge-logs", onProject(roleDeveloper), o.edgeLogs},

		// The registry and the git remote check tokens and roles per
		// repository (registry.go, gitremote.go).
		{"/v2/", public, plain(o.serveRegistry)},
		{"/git/", public, plain(o.serveGit)},
		{"/", public, plain(o.serveRoot)},
	}
}

func (o *Operator) routes() (*http.ServeMux, error) {
	reg, err := o.registryHandler()
	if err != nil {
		return nil, err
	}
	o.registry = reg
	mux, err := o.mux(o.table())
	o.apiMux = mux
	return mux, err
}

// mux registers the routes, each behind the check of its need.
func (o *Operator) mux(table []route) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	for _, rt := range table {
		if !rt.need.valid() {
			return nil, fmt.Errorf("route %s declares no need: add one to the policy table (roles.go)", rt.pattern)
		}
		if rt.need.public {
			mux.HandleFunc(rt.pattern, o.recovering(o.handle(rt.h)))
		} else {
			mux.HandleFunc(rt.pattern, o.recovering(o.require(rt.need, rt.h)))
		}
	}
	return mux, nil
}

// plain adapts a handler that answers errors itself.
func plain(h http.HandlerFunc) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil }
}

func (o *Operator) serveRegistry(w http.ResponseWriter, r *http.Request) { o.registry.ServeHTTP(w, r) }

// noSuchEndpoint answers a request no route took: 405 with Allow where the
// path has routes for other methods (the catch-all "/" route would
// otherwise hide them from the mux's own 405), else 404.
func (o *Operator) noSuchEndpoint(w http.ResponseWriter, r *http.Request) {
	if allow := o.allowedMethods(r.URL); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		o.writeError(w, r, &apiError{http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path),
			"use " + orList(allow) + "; see docs/api.md"})
		return
	}
	hint := "see docs/api.md for the endpoints"
	if p := strings.TrimRight(r.URL.Path, "/"); p != r.URL.Path && p != "" && len(o.allowedMethods(&url.URL{Path: p})) > 0 {
		hint = "drop the trailing slash: " + p
	}
	o.writeError(w, r, notFound(hint, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// orList is "A", "A or B", "A, B or C".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// allowedMethods lists the methods that have a route for u's path.
func (o *Operator) allowedMethods(u *url.URL) []string {
	if o.apiMux == nil {
		return nil
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: u, Header: http.Header{}}
		if _, pattern := o.apiMux.Handler(probe); strings.HasPrefix(pattern, "GET ") && m == http.MethodHead || strings.HasPrefix(pattern, m+" ") {
			allow = append(allow, m)
		}
	}
	return allow
}
