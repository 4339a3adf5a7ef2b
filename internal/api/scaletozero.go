package api

import "time"

// Scale to zero (issue 11, item 5): the values of Project.ScaleToZero.
const (
	// ScaleToZeroPreviews scales preview deployments to zero when idle;
	// production deployments keep their minimum of instances. The default.
	ScaleToZeroPreviews = "previews"
	// ScaleToZeroAll scales every deployment of the project to zero.
	ScaleToZeroAll = "all"
	// ScaleToZeroOff keeps every deployment running.
	ScaleToZeroOff = "off"
)

// Idle timeouts: the default, and the bounds a project may set.
const (
	DefaultIdleTimeout = 5 * time.Minute
	MinIdleTimeout     = 2 * time.Second
	MaxIdleTimeout     = 7 * 24 * time.Hour
)

// ScalesToZero reports whether a deployment (preview or not) of a project
// whose option is mode stops its instances when idle.
func ScalesToZero(mode string, preview bool) bool {
	return mode == ScaleToZeroAll || (mode == ScaleToZeroPreviews && preview)
}

// ValidScaleToZero reports whether s is one of the modes.
func ValidScaleToZero(s string) bool {
	return s == ScaleToZeroPreviews || s == ScaleToZeroAll || s == ScaleToZeroOff
}

// EdgeActivity is the body of POST /v1/edge/activity: when an edge last
// saw a request for each deployment that had one since its last report.
type EdgeActivity struct {
	Deployments []DeploymentActivity `json:"deployments"`
}

// DeploymentActivity is one deployment's last request seen by an edge.
type DeploymentActivity struct {
	Deployment  string    `json:"deployment"` // its short id (slug)
	LastRequest time.Time `json:"last_request"`
}

// MaxActivityBatch caps the deployments of one activity report.
const MaxActivityBatch = 10000

// WakeRequest is the body of POST /v1/edge/wake.
type WakeRequest struct {
	Deployment string `json:"deployment"`
}

// WakeResponse answers a wake: Woke is true for the call that woke the
// deployment, false when it was awake already (instances on their way or
// running): waking is idempotent.
type WakeResponse struct {
	Deployment string `json:"deployment"`
	Woke       bool   `json:"woke"`
}
