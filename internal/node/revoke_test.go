package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// TestAgentRefusesEdgesTheOperatorRevoked: the revoked edges of the
// desired state reach the agent's tunnel listener, which then refuses
// their certificates in the handshake; other edges' pass.
func TestAgentRefusesEdgesTheOperatorRevoked(t *testing.T) {
	ca, _, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	cred := func(role, id string, hosts ...string) *pki.Credential {
		key, cert, err := ca.Issue(pki.Request{Role: role, ID: id, Hosts: hosts, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c, err := pki.LoadCredential(cert, key, ca.PEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The operator's desired state: nothing revoked, then edge-stolen.
	var mu sync.Mutex
	ds := api.DesiredState{Version: 1, Instances: []api.DesiredInstance{}}
	op := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		answer := ds
		mu.Unlock()
		if r.URL.Query().Get("after") == "1" && answer.Version == 1 {
			time.Sleep(20 * time.Millisecond) // a long-poll, shortened
		}
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(op.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{
		cfg: Config{TunnelListener: ln, StateDir: t.TempDir()}, log: slog.New(slog.DiscardHandler),
		client: &client{base: op.URL, http: op.Client()}, sups: map[string]*supervisor{},
		tunnelTLS: pki.TunnelServer(cred(pki.RoleNode, "n1", "127.0.0.1")), revoked: tunnel.NewRevocations(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.desiredLoop(ctx) }()
	go func() { defer wg.Done(); a.serveTunnel(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// handshake reports the tunnel listener's verdict on an edge: its
	// alert for a refused certificate, else the end of a tunnel to an
	// instance it does not run (io.EOF).
	handshake := func(id string) error {
		conf := pki.TunnelClient(cred(pki.RoleEdge, id))
		conf.ServerName = "127.0.0.1"
		c, err := tls.Dial("tcp", ln.Addr().String(), conf)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tunnel.WriteHeader(c, "no-such-instance", tunnel.TLSToken)
		_, err = io.ReadAll(c)
		if err == nil {
			err = io.EOF
		}
		return err
	}
	if err := handshake("edge-stolen"); err != io.EOF {
		t.Fatalf("edge before its revocation: %v", err)
	}
	mu.Lock()
	ds = api.DesiredState{Version: 2, Instances: []api.DesiredInstance{}, RevokedEdges: []string{"edge-stolen"}}
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !a.revoked.Revoked("edge-stolen") {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not learn the revoked edges from its desired state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := handshake("edge-stolen"); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Errorf("revoked edge: %v, want its certificate refused", err)
	}
	if err := handshake("edge-kept"); err != io.EOF {
		t.Errorf("other edge: %v", err)
	}
	// A restarted agent refuses it before its first desired state.
	if got := loadRevoked(a.cfg.StateDir).IDs(); len(got) != 1 || got[0] != "edge-stolen" {
		t.Errorf("revoked edges kept across a restart: %v", got)
	}
}
