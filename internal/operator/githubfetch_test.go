package operator_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// TestGitHubWebhookAnswersBeforeFetch: the webhook queues the build and
// answers while the stand-in still holds every tarball; the build fetches
// the commit once released, and times the fetch as its own stage.
func TestGitHubWebhookAnswersBeforeFetch(t *testing.T) {
	f := startGitHub(t)
	n := f.register("eu", "10.0.0.1:7443")
	release := f.gh.HoldTarballs()
	code, out := f.deliver("push", "d-held", f.pushEvent("acme/web", "main", f.head), "")
	if code != http.StatusAccepted {
		t.Fatalf("push while the tarball is held: %d %v", code, out)
	}
	if got := f.gh.Tarballs(); len(got) != 0 {
		t.Fatalf("tarballs served before the webhook answered: %v", got)
	}
	id := f.builds()[0].ID
	f.eventually("the build fetching", func() bool { return f.builds()[0].Status == api.BuildBuilding })
	if b := f.builds()[0]; b.Deployment != "" || len(f.builder.contents()) != 0 {
		t.Fatalf("built before the commit was fetched: %+v", b)
	}
	release()
	b := f.goLive(n, id)
	if _, ok := b.Timings["fetch"]; !ok || b.Timings["build"] < 0 || b.Timings["deploy"] < 0 || b.Timings["receive"] != 0 {
		t.Fatalf("timings: %v", b.Timings)
	}
	if got := f.gh.Tarballs(); len(got) != 1 || got[0] != f.head {
		t.Fatalf("tarballs: %v", got)
	}
}

// TestGitHubFetchFailures: a commit the build cannot fetch (gone, over the
// context limit, or refused to the App) fails the build with why, and
// the commit gets a failure status saying so.
func TestGitHubFetchFailures(t *testing.T) {
	f := startGitHub(t)
	missing := strings.Repeat("ab", 20)
	if code, out := f.deliver("push", "d-missing", f.pushEvent("acme/web", "main", missing), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	f.failsWith(missing, true, "could not fetch acme/web@"+missing[:12], "App is installed")

	// The App's key no longer matches: GitHub refuses the token exchange.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	app := api.GitHubApp{AppID: f.gh.AppID, PrivateKey: string(keyPEM), WebhookSecret: f.gh.WebhookSecret, API: f.gh.URL}
	if code := f.call("PUT", "/v1/github/app", adminToken, app, nil); code != 200 {
		t.Fatalf("put github app: %d", code)
	}
	if code, out := f.deliver("push", "d-badkey", f.pushEvent("acme/web", "main", f.head), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	// GitHub refuses the status as well, so there is none to check.
	f.failsWith(f.head, false, "could not fetch acme/web@"+f.head[:12])
	if len(f.builder.contents()) != 0 {
		t.Fatalf("built: %q", f.builder.contents())
	}
}

// TestGitHubFetchOverLimit: a commit whose tarball is over the context
// limit fails its build with the limit and what to do.
func TestGitHubFetchOverLimit(t *testing.T) {
	f := startGitHub(t, func(c *operator.Config) { c.BuildContextMaxBytes = 64 })
	if code, out := f.deliver("push", "d-big", f.pushEvent("acme/web", "main", f.head), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	f.failsWith(f.head, true, "over the build context limit", "root directory")
}

// failsWith waits for the newest build, of sha, to fail with a reason
// holding every part of want, and (if status) for the failure status on
// the commit.
func (f *ghFixture) failsWith(sha string, status bool, want ...string) {
	f.t.Helper()
	f.eventually("build of "+sha[:12]+" failed", func() bool {
		b := f.builds()[0]
		return b.Commit == sha && b.Status == api.BuildFailed
	})
	b := f.builds()[0]
	for _, w := range want {
		if !strings.Contains(b.Reason, w) {
			f.t.Fatalf("reason %q does not say %q", b.Reason, w)
		}
	}
	if _, ok := b.Timings["fetch"]; !ok {
		f.t.Fatalf("no fetch timing: %v", b.Timings)
	}
	if !status {
		return
	}
	f.eventually("failure status of "+sha[:12], func() bool {
		st := f.statusesOf(sha)
		return len(st) > 0 && st[len(st)-1].State == "failure" && strings.Contains(st[len(st)-1].Description, want[0])
	})
}

// TestGitHubFetchUnderTimeLimit: a fetch GitHub never answers ends with
// the build's time limit, not never.
func TestGitHubFetchUnderTimeLimit(t *testing.T) {
	f := startGitHub(t, func(c *operator.Config) { c.BuildTimeout = time.Second })
	f.gh.HoldTarballs()
	if code, out := f.deliver("push", "d-slow", f.pushEvent("acme/web", "main", f.head), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	f.failsWith(f.head, true, "time limit")
}
