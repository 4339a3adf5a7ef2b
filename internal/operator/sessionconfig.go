package operator

import "time"

// SessionConfig configures browser sign-in (sessions.go); zero values
// take the defaults.
type SessionConfig struct {
	// Idle ends a session not used for this long (default 12 h); MaxAge
	// ends any session this long after sign-in (default 7 days).
	Idle   time.Duration
	MaxAge time.Duration
	// LinkTTL is how long a one-time sign-in link works (default 15 min).
	LinkTTL time.Duration
	// FailureWindow is how far back failed sign-ins count (default 15
	// min); after EmailFailures of them for one address (default 5), or
	// AddrFailures from one client address (default 20), sign-in is
	// refused (429) until the oldest leaves the window. The counts are in
	// the database, shared by every operator replica.
	FailureWindow time.Duration
	EmailFailures int
	AddrFailures  int
	// PasswordMemoryKiB overrides argon2id's memory cost for new hashes
	// (default 19 MiB, OWASP's); tests lower it to run fast under -race.
	PasswordMemoryKiB uint32
}

func (c *SessionConfig) defaults() {
	if c.Idle <= 0 {
		c.Idle = 12 * time.Hour
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.LinkTTL <= 0 {
		c.LinkTTL = 15 * time.Minute
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 15 * time.Minute
	}
	if c.EmailFailures <= 0 {
		c.EmailFailures = 5
	}
	if c.AddrFailures <= 0 {
		c.AddrFailures = 20
	}
}

// argon is the cost of new password hashes.
func (c *SessionConfig) argon() argonParams {
	p := defaultArgon
	if c.PasswordMemoryKiB > 0 {
		p.memoryKiB = c.PasswordMemoryKiB
	}
	return p
}
