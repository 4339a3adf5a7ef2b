package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// signIn tries a password against the operator's sign-in endpoint.
func signIn(t *testing.T, url, email, password string) int {
	t.Helper()
	b, _ := json.Marshal(api.SignInRequest{Email: email, Password: password})
	resp, err := http.Post(url+"/v1/session", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPasswordAndSignInLink: `password change --stdin` sets a password
// that signs in; a wrong current password is refused with a hint; an
// administrator prints sign-in links.
func TestPasswordAndSignInLink(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	if out, err := runStdin(t, "\nfirst password 123\n", "password", "change", "--stdin"); err != nil || !strings.Contains(out, "Password changed") {
		t.Fatalf("set password: %v\n%s", err, out)
	}
	if code := signIn(t, url, "dev@acme.test", "first password 123"); code != 200 {
		t.Fatalf("sign in with the new password: %d", code)
	}
	if _, err := runStdin(t, "wrong one here\nsecond password 456\n", "password", "change", "--stdin"); err == nil || !strings.Contains(err.Error(), "current password is wrong") {
		t.Fatalf("wrong current password: %v", err)
	}
	if _, err := runStdin(t, "first password 123\nshort\n", "password", "change", "--stdin"); err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := runStdin(t, "", "password", "change", "--stdin"); err == nil || !strings.Contains(err.Error(), "two lines") {
		t.Fatalf("empty stdin: %v", err)
	}

	out := mustRun(t, "users", "signin-link")
	if !strings.Contains(out, "dev@acme.test") || !strings.Contains(out, url+"/signin?token=zwl_") {
		t.Fatalf("signin-link:\n%s", out)
	}
	var l api.SignInLink
	if err := json.Unmarshal([]byte(mustRun(t, "users", "signin-link", "dev@acme.test", "--json")), &l); err != nil || !strings.HasPrefix(l.Token, "zwl_") {
		t.Fatalf("signin-link --json: %+v %v", l, err)
	}
	if _, err := run(t, "users", "signin-link", "nobody@acme.test"); err == nil || !strings.Contains(err.Error(), "no user nobody@acme.test") {
		t.Fatalf("signin-link for an unknown user: %v", err)
	}
}

// TestDeploymentsEvents: `deployments events` prints a deployment's
// timeline as a table and as JSON.
func TestDeploymentsEvents(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "shop")
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("bin")}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if err := image.WriteLayout(layout, img, "v1"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "deploy", "-p", "shop", "--image", layout, "--detach")
	var ds []api.Deployment
	if err := json.Unmarshal([]byte(mustRun(t, "deployments", "list", "shop", "--json")), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("deployments: %+v %v", ds, err)
	}
	out := mustRun(t, "deployments", "events", ds[0].ID)
	if !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "created") || !strings.Contains(out, "deployment created from image") {
		t.Fatalf("events table:\n%s", out)
	}
	var events []api.DeploymentEvent
	if err := json.Unmarshal([]byte(mustRun(t, "deployments", "events", ds[0].ID, "--json")), &events); err != nil || len(events) == 0 || events[0].Kind != "created" {
		t.Fatalf("events --json: %+v %v", events, err)
	}
	if _, err := run(t, "deployments", "events", "nope0000"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("events of a missing deployment: %v", err)
	}
}

// TestWatch: `zeitwork watch --json` prints the organisation's changes as
// they happen.
func TestWatch(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	out, errOut := &syncBuffer{}, &syncBuffer{}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs([]string{"watch", "--json"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitOutput(t, errOut, "Watching changes")
	mustRun(t, "projects", "create", "shop")
	waitOutput(t, out, `{"kind":"project","id":"shop","project":"shop"}`)
	cancel()
	<-done
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput polls b until it holds want.
func waitOutput(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %q; got:\n%s", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
