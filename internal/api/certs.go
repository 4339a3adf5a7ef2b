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
// (POST /v1/edge/certs/status): Error empty means issued, and ExpiresAt is
// the new certificate's expiry.
type CertStatus struct {
	Name      string     `json:"name"`
	Error     string     `json:"error,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CertAttempt is the operator's answer to a reported outcome and to
// GET /v1/edge/certs/status?name=: after failures, no edge may ask the CA
// for the name before NextAttemptAt (shared by all edges).
type CertAttempt struct {
	Name          string     `json:"name"`
	Failures      int        `json:"failures"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// CertRetrySteps are the waits after the 1st, 2nd... consecutive failed
// issuance of a name; the last one repeats. They keep a name whose
// challenge cannot be answered from costing an ACME order per handshake
// (Let's Encrypt allows 5 failed validations per name an hour).
var CertRetrySteps = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour}

// Certificate states.
const (
	CertPending = "pending" // not issued yet: on demand, at the first HTTPS request
	CertIssued  = "issued"
	CertFailed  = "failed" // the last issuance or renewal failed; see LastError
)

// CertificateState is the HTTPS certificate of one host, as the edges
// reported it: Status is CertPending, CertIssued or CertFailed. A failed
// renewal keeps ExpiresAt of the certificate still served.
type CertificateState struct {
	Status        string     `json:"status"`
	IssuedAt      *time.Time `json:"issued_at,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
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
	// ExpiresAt is the served certificate's expiry; NextAttemptAt, after
	// a failure, when the edges may ask the CA again.
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}
