package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/zeitwork/zeitwork/internal/pki"
)

// writeTunnelCerts writes the mutual TLS credentials of a production
// tunnel into dir: a cluster CA (tunnel-ca.pem), a node certificate for
// 127.0.0.1 (node-cert.pem, node-key.pem) and an edge certificate
// (edge-cert.pem, edge-key.pem), all issued by internal/pki as the
// operator issues them.
func writeTunnelCerts(dir string) error {
	ca, _, err := pki.NewCA("edgebench cluster CA")
	if err != nil {
		return err
	}
	files := map[string][]byte{"tunnel-ca.pem": ca.PEM}
	for _, c := range []struct {
		role  string
		hosts []string
	}{{pki.RoleNode, []string{"127.0.0.1"}}, {pki.RoleEdge, nil}} {
		key, cert, err := ca.Issue(pki.Request{Role: c.role, ID: "bench-" + c.role, Hosts: c.hosts, TTL: 24 * time.Hour})
		if err != nil {
			return fmt.Errorf("issue %s certificate: %w", c.role, err)
		}
		files[c.role+"-cert.pem"], files[c.role+"-key.pem"] = cert, key
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// loadTunnelCredential reads role's credential written by writeTunnelCerts.
func loadTunnelCredential(dir, role string) (*pki.Credential, error) {
	var b [3][]byte
	for i, name := range []string{role + "-cert.pem", role + "-key.pem", "tunnel-ca.pem"} {
		var err error
		if b[i], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("tunnel credential: %w", err)
		}
	}
	return pki.LoadCredential(b[0], b[1], b[2])
}
