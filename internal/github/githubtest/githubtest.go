// Package githubtest is a local stand-in for the few GitHub API endpoints
// Zeitwork uses, for tests: GitHub is unreachable from CI. It is GitHub's
// web host too (the OAuth flow of sign-in, oauth.go). It checks what
// GitHub would check — the App JWT's RS256 signature against the App's
// public key, the installation token on every call — and serves commit
// tarballs made by `git archive` from a real local repository.
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Status is a commit status the stand-in received.
type Status struct {
	Repo, SHA                              string
	State, TargetURL, Description, Context string
}

// Server is a running stand-in.
type Server struct {
	URL           string
	AppID         int64
	Key           *rsa.PrivateKey
	KeyPEM        string
	WebhookSecret string
	// ClientSecret is the App's OAuth client secret (client ID: ClientID).
	ClientSecret string
	// RepoDir is the git repository behind every repository name.
	RepoDir string

	t         testing.TB
	mu        sync.Mutex
	tokens    map[string]int64 // installation token -> installation
	exchanges int
	statuses  []Status
	tarballs  []string // SHAs served
	hold      chan struct{}

	user          User                 // signed in by authorize (SetUser)
	codes         map[string]oauthCode // unspent authorization codes
	codeLog       []string
	userTokens    map[string]User
	refreshTokens map[string]User // unspent refresh tokens
	refreshes     int
}

// Start runs a stand-in serving repoDir until the test ends.
func Start(t testing.TB, repoDir string) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	s := &Server{AppID: 4242, Key: key, KeyPEM: string(keyPEM), WebhookSecret: "whsec-" + randHex(8),
		ClientSecret: "ghcs-" + randHex(12), RepoDir: repoDir, t: t, tokens: map[string]int64{},
		codes: map[string]oauthCode{}, userTokens: map[string]User{}, refreshTokens: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.accessToken)
	mux.HandleFunc("GET /repos/{owner}/{repo}/tarball/{sha}", s.tarball)
	mux.HandleFunc("GET /codeload/{owner}/{repo}/{sha}", s.codeload)
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.status)
	mux.HandleFunc("POST /app-manifests/{code}/conversions", s.conversion)
	s.routeOAuth(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// checkJWT verifies the App JWT as GitHub does: RS256 under the App's
// key, issued by the App, expiring within 10 minutes of issue.
func (s *Server) checkJWT(r *http.Request) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return fmt.Errorf("no bearer jwt")
	}
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &s.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired(),
		jwt.WithIssuer(strconv.FormatInt(s.AppID, 10)))
	if err != nil {
		return err
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > 10*time.Minute+time.Second {
		return fmt.Errorf("jwt valid for more than 10 minutes")
	}
	return nil
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := s.checkJWT(r); err != nil {
		http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
		return
	}
	inst, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	tok := "ghs_" + randHex(16)
	s.mu.Lock()
	s.tokens[tok] = inst
	s.exchanges++
	s.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": time.Now().Add(time.Hour).UTC()})
}

// authorized checks the installation token of a call.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	s.mu.Lock()
	_, ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	}
	return ok
}

// tarball redirects to the download host, as GitHub does; while held
// (HoldTarballs), it first waits to be released.
func (s *Server) tarball(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if !s.authorized(w, r) {
		return
	}
	http.Redirect(w, r, "/codeload/"+r.PathValue("owner")+"/"+r.PathValue("repo")+"/"+r.PathValue("sha"), http.StatusFound)
}

// codeload serves `git archive` of the commit, with GitHub's one
// top-level directory "owner-repo-sha/".
func (s *Server) codeload(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	prefix := r.PathValue("owner") + "-" + r.PathValue("repo") + "-" + sha + "/"
	out, err := exec.Command("git", "-C", s.RepoDir, "archive", "--format=tar.gz", "--prefix="+prefix, sha).Output()
	if err != nil {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	s.tarballs = append(s.tarballs, sha)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Write(out)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var st Status
	if err := json.NewDecoder(r.Body).Decode(&struct {
		State       *string `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}{&st.State, &st.TargetURL, &st.Description, &st.Context}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st.Repo, st.SHA = r.PathValue("owner")+"/"+r.PathValue("repo"), r.PathValue("sha")
	s.mu.Lock()
	s.statuses = append(s.statuses, st)
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{}`))
}

// ManifestCode is the code the stand-in's manifest flow "returns".
const ManifestCode = "manifest-code-1"

func (s *Server) conversion(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("code") != ManifestCode {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"id": s.AppID, "slug": "zeitwork-test", "pem": s.KeyPEM,
		"webhook_secret": s.WebhookSecret, "html_url": s.URL + "/apps/zeitwork-test",
		"client_id": ClientID, "client_secret": s.ClientSecret})
}

// HoldTarballs makes tarball requests wait until release is called (at
// the latest when the test ends), so that a test can see what happens
// before a commit is fetched.
func (s *Server) HoldTarballs() (release func()) {
	hold := make(chan struct{})
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(hold)
		})
	}
	s.t.Cleanup(release)
	return release
}

// Statuses returns the statuses received so far.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.statuses...)
}

// Exchanges counts installation token exchanges.
func (s *Server) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

// Tarballs lists the commits whose tarball was served.
func (s *Server) Tarballs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tarballs...)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
