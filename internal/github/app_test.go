package github_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// TestConvertManifest: the code from the manifest flow is exchanged for
// the App's ID, key and webhook secret, and the key signs JWTs the
// stand-in accepts (it checks them against the App's public key).
func TestConvertManifest(t *testing.T) {
	repo := githubtest.NewRepo(t)
	gh := githubtest.Start(t, repo.Dir)
	ctx := context.Background()
	created, err := github.ConvertManifest(ctx, gh.URL, githubtest.ManifestCode)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != gh.AppID || created.PEM != gh.KeyPEM || created.WebhookSecret != gh.WebhookSecret {
		t.Fatalf("conversion: %+v", created)
	}
	key, err := github.ParseKey([]byte(created.PEM))
	if err != nil {
		t.Fatal(err)
	}
	app := github.NewApp(gh.URL, created.ID, key, nil)
	if _, err := app.Token(ctx, 7); err != nil {
		t.Fatalf("token with the converted key: %v", err)
	}
	var apiErr *github.APIError
	if _, err := github.ConvertManifest(ctx, gh.URL, "wrong-code"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("wrong code: %v", err)
	}
}

// TestAppJWTIsChecked: a JWT signed with another key is refused, so the
// stand-in's acceptance above means something.
func TestAppJWTIsChecked(t *testing.T) {
	gh := githubtest.Start(t, githubtest.NewRepo(t).Dir)
	other := githubtest.Start(t, githubtest.NewRepo(t).Dir)
	app := github.NewApp(gh.URL, gh.AppID, other.Key, nil)
	var apiErr *github.APIError
	if _, err := app.Token(context.Background(), 7); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("token with a foreign key: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"a":1}`)
	good := github.Sign(secret, body)
	for _, tc := range []struct {
		name   string
		header string
		want   bool
	}{
		{"good", good, true},
		{"missing", "", false},
		{"sha1 form", "sha1=" + good[7:], false},
		{"other body", github.Sign(secret, []byte(`{"a":2}`)), false},
		{"other secret", github.Sign([]byte("other"), body), false},
		{"not hex", "sha256=zz", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := github.VerifySignature(secret, body, tc.header); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
	if github.VerifySignature(nil, body, github.Sign(nil, body)) {
		t.Fatal("an empty secret must verify nothing")
	}
}

// TestManifestURL: the manifest asks for exactly what Zeitwork uses and
// points GitHub at the operator's webhook; Enterprise gets its own host.
func TestManifestURL(t *testing.T) {
	m := github.Manifest("zw", "https://op.example", "https://op.example/v1/webhooks/github", "https://op.example/v1/github/created")
	u, err := github.ManifestURL("", m)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	var got struct {
		Hook      struct{ URL string } `json:"hook_attributes"`
		Perms     map[string]string    `json:"default_permissions"`
		Events    []string             `json:"default_events"`
		Callbacks []string             `json:"callback_urls"`
	}
	if err := json.Unmarshal([]byte(parsed.Query().Get("manifest")), &got); err != nil {
		t.Fatal(err)
	}
	if parsed.Host != "github.com" || got.Hook.URL != "https://op.example/v1/webhooks/github" ||
		len(got.Perms) != 3 || got.Perms["contents"] != "read" || got.Perms["statuses"] != "write" ||
		got.Perms["email_addresses"] != "read" || len(got.Events) != 1 || got.Events[0] != "push" ||
		len(got.Callbacks) != 1 || got.Callbacks[0] != "https://op.example/v1/github/oauth/callback" {
		t.Fatalf("manifest URL %s: %+v", u, got)
	}
	if u, _ := github.ManifestURL("https://ghe.example/api/v3", m); !strings.HasPrefix(u, "https://ghe.example/settings/apps/new?manifest=") {
		t.Fatalf("enterprise: %s", u)
	}
}

// TestTokenExchangedOnce: callers missing the cache at the same time
// share one exchange, and later callers use the cached token.
func TestTokenExchangedOnce(t *testing.T) {
	gh := githubtest.Start(t, githubtest.NewRepo(t).Dir)
	app := github.NewApp(gh.URL, gh.AppID, gh.Key, nil)
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	for i := range tokens {
		wg.Go(func() {
			tok, err := app.Token(context.Background(), 7)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	if _, err := app.Token(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if tok == "" || tok != tokens[0] {
			t.Fatalf("tokens differ: %q", tokens)
		}
	}
	if n := gh.Exchanges(); n != 1 {
		t.Fatalf("%d exchanges, want 1", n)
	}
}
