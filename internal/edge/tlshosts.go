package edge

// Routes reports whether host is in the current route table: the edge's
// TLS issuance policy (internal/edgetls) asks it before any certificate
// is requested, so that no arbitrary SNI causes an ACME order.
func (e *Edge) Routes(host string) bool {
	t := e.table.Load()
	if t == nil {
		return false
	}
	_, ok := t.hosts[normalizeHost(host)]
	return ok
}

// TLSPolicy is host's HTTPS settings from its project (internal/edgetls):
// the HSTS max-age to send on HTTPS (0: the edge's default), and whether
// plain HTTP is served as is instead of redirected (a versioned URL whose
// project opted out). An unknown host has neither.
func (e *Edge) TLSPolicy(host string) (hstsMaxAge int, plainHTTP bool) {
	t := e.table.Load()
	if t == nil {
		return 0, false
	}
	r := t.hosts[normalizeHost(host)]
	if r == nil {
		return 0, false
	}
	return r.hsts, r.plainHTTP
}
