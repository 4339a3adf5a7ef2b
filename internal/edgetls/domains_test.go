package edgetls

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// countingStorage is the operator's storage, counting the issuance locks
// taken for one name: each is an attempt to issue (storage round trips, a
// new key, then the issuer).
type countingStorage struct {
	*Storage
	name  string
	locks atomic.Int32
}

func (s *countingStorage) count(key string) {
	if strings.HasSuffix(key, s.name) {
		s.locks.Add(1)
	}
}

func (s *countingStorage) Lock(ctx context.Context, key string) error {
	s.count(key)
	return s.Storage.Lock(ctx, key)
}

func (s *countingStorage) TryLock(ctx context.Context, key string) (bool, error) {
	s.count(key)
	return s.Storage.TryLock(ctx, key)
}

// addDomain adds name to a new project through the operator's API, as
// `zeitwork domains add` does.
func addDomain(t *testing.T, srv *operatortest.Server, project, name string) {
	t.Helper()
	call(t, srv, "POST", "/v1/projects", api.CreateProjectRequest{Name: project}, nil)
	call(t, srv, "POST", "/v1/projects/"+project+"/domains", api.AddDomainRequest{Name: name}, nil)
}

// domainCert is the certificate state the operator lists for name.
func domainCert(t *testing.T, srv *operatortest.Server, project, name string) api.CertificateState {
	t.Helper()
	var ds []api.Domain
	call(t, srv, "GET", "/v1/projects/"+project+"/domains", nil, &ds)
	for _, d := range ds {
		if d.Name == name {
			return d.Certificate
		}
	}
	t.Fatalf("%s is not listed: %+v", name, ds)
	return api.CertificateState{}
}

func call(t *testing.T, srv *operatortest.Server, method, path string, body, out any) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		json.NewEncoder(&rd).Encode(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, &rd)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// zeitwork runs the CLI against srv and returns its output.
func zeitwork(t *testing.T, srv *operatortest.Server, args ...string) string {
	t.Helper()
	t.Setenv("ZEITWORK_CONFIG", t.TempDir()+"/config.json")
	t.Setenv("ZEITWORK_API_URL", srv.URL)
	t.Setenv("ZEITWORK_TOKEN", srv.Token)
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cli.Commands()...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("zeitwork %s: %v\n%s", strings.Join(args, " "), err, &out)
	}
	return out.String()
}
