package api

// RouteTable is what the operator serves to edges at GET /v1/edge/routes.
// An edge long-polls with ?after=<Version>: the operator answers when the
// table's version is newer, or after about 25 s with the same table.
type RouteTable struct {
	Version    int64   `json:"version"`
	AppsDomain string  `json:"apps_domain"`
	Routes     []Route `json:"routes"`
	// TunnelToken is what edges present to node agents (package tunnel).
	TunnelToken string `json:"tunnel_token"`
	// Regions are the regions nodes have registered in, so that an edge
	// can warn that its --region is none of them. Nil from an operator
	// that does not send it.
	Regions []string `json:"regions"`
}

// Route maps one host name to the healthy instances behind it.
type Route struct {
	// Host is lower case without port: "<id>--<project>.<domain>" for a
	// deployment's versioned URL (VersionedLabel), "<project>.<domain>" for
	// the live one, or a verified custom domain of the project (routed to
	// the live deployment, or a redirect). No two routes of a table have
	// the same host.
	Host       string `json:"host"`
	Project    string `json:"project"`
	Deployment string `json:"deployment"`
	// Status is the deployment's status; edges show it when Backends is empty.
	Status   string    `json:"status"`
	Backends []Backend `json:"backends"`
	// Limits are the project's rate limits; nil means none. Every route of
	// a project carries the same, and the edge keeps one project bucket.
	Limits *RateLimits `json:"limits,omitempty"`
	// HSTSMaxAge, when positive, is the project's Strict-Transport-Security
	// max-age, sent on HTTPS only and overriding the edge's default.
	HSTSMaxAge int `json:"hsts_max_age,omitempty"`
	// PlainHTTP serves the host over HTTP without the redirect to HTTPS:
	// set only on a versioned URL whose project opted out.
	PlainHTTP bool `json:"plain_http,omitempty"`
	// Redirect, for a custom domain that redirects, is the host every
	// request is sent on to, with RedirectStatus; such a route has no
	// deployment or backends.
	Redirect       string `json:"redirect,omitempty"`
	RedirectStatus int    `json:"redirect_status,omitempty"`
	// ScaleToZero: the deployment stops its instances when idle for
	// IdleTimeout seconds. Without backends the edge then holds requests
	// and asks the operator to wake it (POST /v1/edge/wake); with
	// requests it reports their time (POST /v1/edge/activity).
	ScaleToZero bool `json:"scale_to_zero,omitempty"`
	IdleTimeout int  `json:"idle_timeout,omitempty"`
}

// Backend is one healthy instance, reached through its node agent's tunnel.
type Backend struct {
	Instance string `json:"instance"`
	// NodeAddr is "host:port" of the node agent's tunnel listener.
	NodeAddr string `json:"node_addr"`
	// Region is the instance's region: an edge with --region tries its
	// own region's instances first. Node is the node's ID: after a failed
	// dial the edge avoids the node's other instances for a while.
	Region string `json:"region,omitempty"`
	Node   string `json:"node,omitempty"`
	// DirectAddr, when the node publishes the instance (zeitwork node
	// --direct-addr), is "host:port" an edge with --node-transport direct
	// dials in plain TCP: the instance's app, DNATed by the node's kernel,
	// without the tunnel (docs/design.md, "Direct transport").
	DirectAddr string `json:"direct_addr,omitempty"`
}
