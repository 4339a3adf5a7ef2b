package api

import "time"

// CreateJoinTokenRequest is the body of POST /v1/nodes/join-tokens.
type CreateJoinTokenRequest struct {
	// Role is "node" (default) or "edge": what may enrol with the token.
	Role string `json:"role,omitempty"`
	// TTLSeconds is how long the token is valid (default 3600, at most
	// 7 days).
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// JoinToken is a new single-use join token. Token is shown only once; it
// ends in the SHA-256 pin of the cluster CA, after a dot.
type JoinToken struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RegisterEdgeRequest is the body of POST /v1/edges/register,
// authenticated with an edge join token.
type RegisterEdgeRequest struct {
	Hostname string `json:"hostname"`
	// Region is the edge's --region (empty: none); the edge also reports
	// it on every route poll (GET /v1/edge/routes?region=).
	Region string `json:"region,omitempty"`
	// CSR is a PEM certificate request for a key made on the edge's host.
	CSR string `json:"csr"`
}

// RegisterEdgeResponse carries the edge's own credentials.
type RegisterEdgeResponse struct {
	EdgeID    string `json:"edge_id"`
	EdgeToken string `json:"edge_token"`
	// Certificate is the edge's tunnel client certificate (PEM), CA the
	// cluster CA that nodes' certificates and the operator's chain to.
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// Edge is an enrolled edge, as GET /v1/edges lists it.
type Edge struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// Region is what the edge enrolled or last polled with (empty: no
	// region, or an edge that has not polled since the operator learnt
	// to record it). RegionKnown says whether any node ever registered
	// in it: an unknown one is likely misspelt and means no preference.
	Region      string     `json:"region"`
	RegionKnown bool       `json:"region_known"`
	EnrolledAt  time.Time  `json:"enrolled_at"`
	LastSeenAt  *time.Time `json:"last_seen_at,omitempty"`
	// RemovedAt is set once the edge was removed (DELETE /v1/edges/{id}):
	// its token and certificate are refused from then on.
	RemovedAt *time.Time `json:"removed_at,omitempty"`
	// DirectSource is the source address the edge reported for the direct
	// transport (zeitwork edge --node-transport direct): the address nodes
	// admit to their published ports. Empty: it uses the tunnel.
	DirectSource string `json:"direct_source,omitempty"`
}

// RemovedEdge is the answer to DELETE /v1/edges/{edge}.
type RemovedEdge struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	RemovedAt time.Time `json:"removed_at"`
}

// RemovedNode is the answer to DELETE /v1/nodes/{node}.
type RemovedNode struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Region    string    `json:"region"`
	RemovedAt time.Time `json:"removed_at"`
	// Rescheduled is how many of its instances are placed elsewhere.
	Rescheduled int `json:"rescheduled"`
}
