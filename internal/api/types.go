package api

import "time"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	// Hint says what to do next, when there is something to do.
	Hint string `json:"hint,omitempty"`
}

// Project is an app with a stable URL.
type Project struct {
	ID                    string    `json:"id"`
	Name                  string    `json:"name"`
	URL                   string    `json:"url"`
	Port                  int       `json:"port"`
	HealthPath            string    `json:"health_path,omitempty"`
	MemoryMiB             int       `json:"memory_mib"`
	VCPUs                 int       `json:"vcpus"`
	MinInstancesPerRegion int       `json:"min_instances_per_region"`
	LiveDeployment        string    `json:"live_deployment,omitempty"`
	CreatedAt             time.Time `json:"created_at"`
	// Where builds come from (issue 6): the linked GitHub repository
	// ("owner/name"), the branch that goes live (others make previews),
	// the directory of the repository that is the build context and the
	// Dockerfile's path inside it.
	Repo             string `json:"repo,omitempty"`
	ProductionBranch string `json:"production_branch,omitempty"`
	RootDir          string `json:"root_dir,omitempty"`
	Dockerfile       string `json:"dockerfile,omitempty"`
	// RateLimits are enforced by the edge (issue 7); nil when none is set.
	RateLimits *RateLimits `json:"rate_limits,omitempty"`
	// HSTSMaxAge is the Strict-Transport-Security max-age in seconds the
	// edge sends on the project's HTTPS responses; 0 leaves the edge's
	// default. HTTPSRedirectVersioned says whether the versioned URL is
	// redirected from HTTP to HTTPS (the project URL and custom domains
	// always are when the edge serves HTTPS).
	HSTSMaxAge             int  `json:"hsts_max_age"`
	HTTPSRedirectVersioned bool `json:"https_redirect_versioned"`
	// Regions the project runs in; empty: all regions.
	Regions []string `json:"regions,omitempty"`
	// ScaleToZero says which deployments stop their instances after
	// IdleTimeoutSeconds without a request (ScaleToZeroPreviews, All or
	// Off); the edge wakes them on the next request.
	ScaleToZero        string `json:"scale_to_zero"`
	IdleTimeoutSeconds int    `json:"idle_timeout_seconds"`
}

// MaxHSTSMaxAge is the longest HSTS max-age a project may set: two years.
const MaxHSTSMaxAge = 2 * 365 * 24 * 3600

// UpdateProjectRequest is the body of PATCH /v1/projects/{project}:
// fields left out (null) keep their value; Repo "" unlinks.
type UpdateProjectRequest struct {
	Repo             *string `json:"repo,omitempty"`
	ProductionBranch *string `json:"production_branch,omitempty"`
	RootDir          *string `json:"root_dir,omitempty"`
	Dockerfile       *string `json:"dockerfile,omitempty"`
	// ProjectRateLimit and ClientRateLimit replace the project's limit
	// and its per-client-address limit; a zero Rate turns one off.
	ProjectRateLimit *RateLimit `json:"project_rate_limit,omitempty"`
	ClientRateLimit  *RateLimit `json:"client_rate_limit,omitempty"`
	// HSTSMaxAge (0 to MaxHSTSMaxAge seconds, 0: off) and
	// HTTPSRedirectVersioned replace the project's HTTPS settings.
	HSTSMaxAge             *int  `json:"hsts_max_age,omitempty"`
	HTTPSRedirectVersioned *bool `json:"https_redirect_versioned,omitempty"`
	// Regions replaces the regions the project runs in: a list of region
	// names, or ["all"] (or an empty list) for every region.
	Regions *[]string `json:"regions,omitempty"`
	// ScaleToZero ("previews", "all" or "off") and IdleTimeoutSeconds
	// (MinIdleTimeout to MaxIdleTimeout) replace the project's scale to
	// zero settings.
	ScaleToZero        *string `json:"scale_to_zero,omitempty"`
	IdleTimeoutSeconds *int    `json:"idle_timeout_seconds,omitempty"`
	// Port, HealthPath ("" for a TCP check), MemoryMiB, VCPUs and
	// MinInstancesPerRegion replace the values CreateProjectRequest set,
	// under the same rules. Instances started from then on use them (a new
	// deployment's, and replacements); running instances keep theirs. The
	// minimum per region applies to the live deployment at once.
	Port                  *int    `json:"port,omitempty"`
	HealthPath            *string `json:"health_path,omitempty"`
	MemoryMiB             *int    `json:"memory_mib,omitempty"`
	VCPUs                 *int    `json:"vcpus,omitempty"`
	MinInstancesPerRegion *int    `json:"min_instances_per_region,omitempty"`
}

// GitHubApp is the body of PUT /v1/github/app (operator admin token):
// the App the operator acts as. PrivateKey and WebhookSecret are never
// returned.
type GitHubApp struct {
	AppID         int64  `json:"app_id"`
	Slug          string `json:"slug,omitempty"`
	PrivateKey    string `json:"private_key,omitempty"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// API is the GitHub API base URL (default https://api.github.com;
	// https://HOST/api/v3 for GitHub Enterprise).
	API string `json:"api_url,omitempty"`
	// Web is GitHub's web host, where users authorize sign-in (default
	// derived from API: https://github.com, or https://HOST).
	Web string `json:"web_url,omitempty"`
	// ClientID and ClientSecret are the App's OAuth client; with them,
	// users sign in with GitHub. The secret is never shown again.
	// A PUT without them keeps the stored client of the same App (a new
	// App ID drops it: a client belongs to its App).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// ClearClient (PUT only) drops the stored client: sign-in with GitHub
	// turns off.
	ClearClient bool `json:"clear_client,omitempty"`
}

// CreateProjectRequest is the body of POST /v1/projects.
type CreateProjectRequest struct {
	Name string `json:"name"`
	// Port the app listens on (PORT is set to it); default 8080.
	Port int `json:"port,omitempty"`
	// HealthPath, when set, makes the health check an HTTP GET of this path
	// (2xx or 3xx is healthy) instead of a TCP connection.
	HealthPath string `json:"health_path,omitempty"`
	// MemoryMiB (default 256) and VCPUs (default 1) size each instance.
	MemoryMiB int `json:"memory_mib,omitempty"`
	VCPUs     int `json:"vcpus,omitempty"`
	// MinInstancesPerRegion defaults to 3.
	MinInstancesPerRegion int `json:"min_instances_per_region,omitempty"`
}

// Deployment statuses.
const (
	StatusDeploying = "deploying"
	StatusReady     = "ready"
	StatusFailed    = "failed"
	StatusStopped   = "stopped"
)

// Deployment is one immutable version of a project.
type Deployment struct {
	ID      string `json:"id"` // the short id in the versioned URL
	Project string `json:"project"`
	Image   string `json:"image"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Live    bool   `json:"live"`
	// Preview deployments (builds of a branch other than the project's
	// production branch) answer only at their own URL.
	Preview bool   `json:"preview,omitempty"`
	URL     string `json:"url"`
	// Instances is filled by GET /v1/deployments/{id}.
	Instances []Instance `json:"instances,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ReadyAt   *time.Time `json:"ready_at,omitempty"`
	// ScalesToZero: the deployment stops its instances when idle; Asleep:
	// it has (the next request wakes it). LastRequest is the last request
	// edges reported, if any.
	ScalesToZero bool       `json:"scales_to_zero,omitempty"`
	Asleep       bool       `json:"asleep,omitempty"`
	LastRequest  *time.Time `json:"last_request,omitempty"`
}

// CreateDeploymentRequest is the body of POST /v1/projects/{name}/deployments.
type CreateDeploymentRequest struct {
	Image string `json:"image"`
}

// RollbackRequest is the body of POST /v1/projects/{name}/rollback. An empty
// Deployment means the newest deployment before the live one that was ready.
type RollbackRequest struct {
	Deployment string `json:"deployment,omitempty"`
}

// Instance states.
const (
	InstancePending  = "pending"
	InstanceStarting = "starting"
	InstanceHealthy  = "healthy"
	InstanceFailed   = "failed"
	InstanceStopped  = "stopped"
	InstanceLost     = "lost"
)

// Instance is one microVM of a deployment.
type Instance struct {
	ID        string    `json:"id"`
	Region    string    `json:"region"`
	Node      string    `json:"node,omitempty"`
	Desired   string    `json:"desired"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Address   string    `json:"address,omitempty"`
	Restarts  int       `json:"restarts"`
	UpdatedAt time.Time `json:"updated_at"`
	// BootTimings are the stage durations of the first healthy start, in
	// milliseconds: image_resolve, image_unpack, rootfs_build, disk_copy,
	// vm_to_init, init_to_listening, vm_to_healthy.
	BootTimings map[string]float64 `json:"boot_timings,omitempty"`
	// Usage is the host memory and CPU of the instance's VM as its node
	// last reported them (healthy instances only).
	Usage *InstanceUsage `json:"usage,omitempty"`
}

// Node is a node agent.
type Node struct {
	ID            string    `json:"id"`
	Region        string    `json:"region"`
	Hostname      string    `json:"hostname"`
	Driver        string    `json:"driver"`
	Accel         string    `json:"accel"`
	State         string    `json:"state"`
	Instances     int       `json:"instances"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// Drained, capacity and use are shown to installation administrators
	// (GET /v1/nodes) only. Used counts every instance the node still
	// runs; 0 capacity is unknown.
	Drained  bool   `json:"drained,omitempty"`
	Capacity *Sizes `json:"capacity,omitempty"`
	Used     *Sizes `json:"used,omitempty"`
	// DiskFreeMiB is the free disk the node last reported (absent: never).
	DiskFreeMiB *int `json:"disk_free_mib,omitempty"`
}

// Sizes are a node's capacity or use.
type Sizes struct {
	VCPUs     int `json:"vcpus"`
	MemoryMiB int `json:"memory_mib"`
	DiskGiB   int `json:"disk_gib,omitempty"`
}

// UnderServed is a region where a deployment has fewer instances than its
// project's minimum and cannot get more, and why. Message says it all in
// one line, e.g. "region eu: 2 of 3 instances: not enough capacity (...)".
type UnderServed struct {
	Project    string `json:"project"`
	Deployment string `json:"deployment"`
	Region     string `json:"region"`
	Have       int    `json:"have"`
	Want       int    `json:"want"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	Version    string       `json:"version"`
	AppsDomain string       `json:"apps_domain"`
	Nodes      []Node       `json:"nodes"`
	Projects   []Project    `json:"projects"`
	Recent     []Deployment `json:"recent_deployments"`
	// Builds are the organisation's builds that have not ended.
	Builds []Build `json:"builds,omitempty"`
	// UnderServed lists the regions where the organisation's active
	// deployments are short of their minimum (issue 8).
	UnderServed []UnderServed `json:"under_served,omitempty"`
}

// LogLine is one line of an app's output.
type LogLine struct {
	Instance string    `json:"instance"`
	Stream   string    `json:"stream"`
	Time     time.Time `json:"time"`
	Text     string    `json:"text"`
}

// EnvVar is a project environment variable; Value is only ever sent to the
// operator, never returned by it.
type EnvVar struct {
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitempty"`
}

// Build statuses.
const (
	BuildQueued    = "queued"
	BuildBuilding  = "building"
	BuildPushing   = "pushing"
	BuildDone      = "done"
	BuildFailed    = "failed"
	BuildCancelled = "cancelled"
)

// Build turns a source into an image and, if it succeeds, a deployment.
type Build struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	// Source is "upload" (a context sent to POST .../builds) or "git".
	Source        string `json:"source"`
	Commit        string `json:"commit,omitempty"`
	Branch        string `json:"branch,omitempty"`
	CommitMessage string `json:"commit_message,omitempty"`
	CommitAuthor  string `json:"commit_author,omitempty"`
	Dockerfile    string `json:"dockerfile"`
	Target        string `json:"target,omitempty"`
	// Preview builds (branches other than the production branch) make
	// deployments that are never promoted to the project URL.
	Preview bool   `json:"preview"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	// Timings are stage durations in milliseconds, stored as each stage
	// ends: receive (an upload or git push's context, until queued) or
	// fetch (a GitHub build downloading its commit), extract, build, push
	// (to the registry; the build is pushing meanwhile), deploy.
	Timings    map[string]int64 `json:"timings,omitempty"`
	Digest     string           `json:"digest,omitempty"`
	Deployment string           `json:"deployment,omitempty"` // its short id
	Attempts   int              `json:"attempts"`
	CreatedAt  time.Time        `json:"created_at"`
	StartedAt  *time.Time       `json:"started_at,omitempty"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	// Image is where the build's image went, pinned by digest: the
	// built-in registry or the project's push repository.
	Image string `json:"image,omitempty"`
}

// BuildLogLine is one line of a build's output.
type BuildLogLine struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// BuildArg is a project build arg (--build-arg), the only value of a
// project's that reaches its builds. Like an EnvVar's, its Value is only
// ever sent to the operator, never returned by it.
type BuildArg = EnvVar

// DeletedProject is the answer to DELETE /v1/projects/{project}.
type DeletedProject struct {
	Name string `json:"name"`
	// StoppedDeployments were deploying or ready; their instances stop.
	StoppedDeployments int `json:"stopped_deployments"`
	// CancelledBuilds were queued or running.
	CancelledBuilds int `json:"cancelled_builds"`
}
