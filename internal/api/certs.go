package api

import "time"

// CertKeyInfo describes one key of the edges' certificate storage
// (GET /v1/edge/certs/stat), as certmagic's KeyInfo does.
type CertKeyInfo struct {
	Key        string    `json:"key"`
	Modified   time.Time `json:"modified"`
	Size       int64     `json:"size"`
	IsTerminal bool      `json:"is_terminal"`
}

// CertKeys lists the keys under a prefix (GET /v1/edge/certs/list).
type CertKeys struct {
	Keys []string `json:"keys"`
}

// CertLock asks for, refreshes or releases an issuance lock
// (POST /v1/edge/certs/locks/{lock,refresh,unlock}). Holder is a random
// token per Lock call; TTLSeconds is the lease.
type CertLock struct {
	Name       string  `json:"name"`
	Holder     string  `json:"holder"`
	TTLSeconds float64 `json:"ttl_seconds,omitempty"`
}

// CertLockResult says whether the caller holds the lock now.
type CertLockResult struct {
	Held bool `json:"held"`
}

// CertStatus reports an issuance outcome for a name
// (POST /v1/edge/certs/status): Error empty means issued.
type CertStatus struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// HostCertificate is the HTTPS state of one of a project's hosts
// (GET /v1/projects/{project}/certificates). State is "issued", "failed"
// (LastError says why; the edges try again after a backoff) or "none"
// (no handshake has asked for it yet: certificates are issued on demand).
type HostCertificate struct {
	Host        string     `json:"host"`
	State       string     `json:"state"`
	IssuedAt    *time.Time `json:"issued_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}
