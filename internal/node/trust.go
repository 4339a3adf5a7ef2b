package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/zeitwork/zeitwork/internal/pki"
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
