package edge

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
)

// Identity is an enrolled edge's credentials: its token for the
// operator's edge endpoints, its tunnel client TLS, and the http client
// that trusts the operator (the cluster CA over https).
type Identity struct {
	ID        string
	Token     string
	TunnelTLS *tls.Config
	HTTP      *http.Client
}

// identityFile is what an edge keeps in its state directory; its key is
// kept beside it in edge.key and never leaves the host.
type identityFile struct {
	EdgeID      string `json:"edge_id"`
	EdgeToken   string `json:"edge_token"`
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// Enrol returns the edge's identity kept in stateDir, or enrols the edge
// with joinToken (`zeitwork nodes join-token --role edge`) and keeps it.
// region is the edge's --region, recorded by the operator (empty: none).
func Enrol(ctx context.Context, operatorURL, joinToken, stateDir, hostname, region string) (*Identity, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("edge state: %w", err)
	}
	keyPEM, err := pki.LoadOrCreateKey(filepath.Join(stateDir, "edge.key"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, "edge.json")
	var f identityFile
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("edge state %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("edge state: %w", err)
	} else {
		if joinToken == "" {
			return nil, errors.New("this edge is not enrolled: give it a join token from `zeitwork nodes join-token --role edge` (ZEITWORK_JOIN_TOKEN)")
		}
		if f, err = register(ctx, operatorURL, joinToken, hostname, region, keyPEM); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(f)
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			return nil, fmt.Errorf("edge state: %w", err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, fmt.Errorf("edge state: %w", err)
		}
	}
	cred, err := pki.LoadCredential([]byte(f.Certificate), keyPEM, []byte(f.CA))
	if err != nil {
		return nil, fmt.Errorf("edge state %s: %w", path, err)
	}
	return &Identity{ID: f.EdgeID, Token: f.EdgeToken, TunnelTLS: pki.TunnelClient(cred),
		HTTP: &http.Client{Transport: operatorTransport(pki.OperatorClient(cred.Pool))}}, nil
}

// register sends the edge's certificate request with the join token.
func register(ctx context.Context, operatorURL, joinToken, hostname, region string, keyPEM []byte) (identityFile, error) {
	csr, err := pki.CSR(keyPEM)
	if err != nil {
		return identityFile{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if strings.HasPrefix(operatorURL, "https://") {
		conf, err := pki.PinnedOperatorClient(joinToken)
		if err != nil {
			return identityFile{}, err
		}
		hc.Transport = operatorTransport(conf)
	}
	body, _ := json.Marshal(api.RegisterEdgeRequest{Hostname: hostname, Region: region, CSR: string(csr)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(operatorURL, "/")+"/v1/edges/register", bytes.NewReader(body))
	if err != nil {
		return identityFile{}, err
	}
	req.Header.Set("Authorization", "Bearer "+joinToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return identityFile{}, fmt.Errorf("enrol edge: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return identityFile{}, fmt.Errorf("enrol edge: operator answered %d: %s (%s)", resp.StatusCode, e.Error, e.Hint)
	}
	var out api.RegisterEdgeResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return identityFile{}, fmt.Errorf("enrol edge: %w", err)
	}
	return identityFile{EdgeID: out.EdgeID, EdgeToken: out.EdgeToken, Certificate: out.Certificate, CA: out.CA}, nil
}

func operatorTransport(conf *tls.Config) *http.Transport {
	return &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: conf, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8}
}
