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
