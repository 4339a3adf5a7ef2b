package node

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

func (a *Agent) caPath() string { return filepath.Join(a.cfg.StateDir, "ca.pem") }

// trustOperator sets what the agent trusts of an https operator before
// it registers: the cluster CA it kept, else the CA the join token pins.
func (a *Agent) trustOperator() error {
	caPEM, err := os.ReadFile(a.caPath())
	switch {
	case err == nil:
		pool, err := pki.Pool(caPEM)
		if err != nil {
			return fmt.Errorf("node state %s: %w", a.caPath(), err)
		}
		a.client.trust(pki.OperatorClient(pool))
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("node state: %w", err)
	}
	if _, ok := pki.TokenPin(a.cfg.JoinToken); !ok {
		return nil // an operator over plain HTTP (loopback) or a public CA
	}
	conf, err := pki.PinnedOperatorClient(a.cfg.JoinToken)
	if err != nil {
		return err
	}
	a.client.trust(conf)
	return nil
}

// trust makes the client's TLS connections to the operator use conf.
func (c *client) trust(conf *tls.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.http = &http.Client{Timeout: c.http.Timeout, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: conf, ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 8,
	}}
}

func revokedPath(stateDir string) string { return filepath.Join(stateDir, "revoked-edges.json") }

// loadRevoked restores the revoked edges the last run kept, so that a
// restarted agent refuses them before its first desired state arrives.
// A missing or unreadable file is an empty list: the first answer fills it.
func loadRevoked(stateDir string) *tunnel.Revocations {
	r := tunnel.NewRevocations()
	b, err := os.ReadFile(revokedPath(stateDir))
	if err != nil {
		return r
	}
	var ids []string
	if json.Unmarshal(b, &ids) == nil {
		r.Set(ids)
	}
	return r
}

// setRevoked applies the revoked edges of a desired state (closing their
// open tunnels) and keeps them for the next run.
func (a *Agent) setRevoked(ids []string) {
	if !a.revoked.Set(ids) {
		return
	}
	a.log.Info("revoked edges changed; their tunnels are refused", "edges", len(ids))
	b, _ := json.Marshal(a.revoked.IDs())
	if err := writeFileAtomic(revokedPath(a.cfg.StateDir), b); err != nil {
		a.log.Warn("keep revoked edges", "err", err)
	}
}
