package image

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// recordingRegistry is a registry a tenant controls: it serves images to
// anyone and records every Authorization header it is sent.
type recordingRegistry struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	hits  int
}

func newRecordingRegistry(t *testing.T) *recordingRegistry {
	t.Helper()
	rr := &recordingRegistry{}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr.mu.Lock()
		rr.hits++
		if a := r.Header.Get("Authorization"); a != "" {
			rr.auths = append(rr.auths, a)
		}
		rr.mu.Unlock()
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(rr.Close)
	return rr
}

func (rr *recordingRegistry) host() string { return strings.TrimPrefix(rr.URL, "http://") }

func (rr *recordingRegistry) seen() ([]string, int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]string(nil), rr.auths...), rr.hits
}

// push puts the sample image into the registry as repo:v1, anonymously.
func (rr *recordingRegistry) push(t *testing.T, repo string) string {
	t.Helper()
	layoutDir, _ := sampleLayout(t)
	ref := rr.host() + "/" + repo + ":v1"
	dst, _ := name.ParseReference(ref)
	if _, err := Push(context.Background(), layoutDir+":v1", dst, authn.Anonymous, nil); err != nil {
		t.Fatal(err)
	}
	rr.reset()
	return ref
}

// reset forgets what the registry was sent.
func (rr *recordingRegistry) reset() {
	rr.mu.Lock()
	rr.auths, rr.hits = nil, 0
	rr.mu.Unlock()
}

var nodeCreds = &authn.Basic{Username: "node", Password: "node-secret-token"}

// TestEgressSendsNoCredentialsToOtherRegistries pulls, as a node does, an
// image from a registry that is not the operator's: it must get the image
// and never the node's credentials.
func TestEgressSendsNoCredentialsToOtherRegistries(t *testing.T) {
	foreign := newRecordingRegistry(t)
	ref := foreign.push(t, "tenant/app")
	// The operator's registry is elsewhere; the foreign one is allowed
	// only because it runs on loopback in this test.
	e := NewEgress("operator.invalid:7070", []string{foreign.host()})
	s, err := NewStore(t.TempDir(), testLog(t), WithFreeSpace(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RootDisk(context.Background(), ref, nil, e.Options(nodeCreds)...); err != nil {
		t.Fatal(err)
	}
	if auths, hits := foreign.seen(); len(auths) != 0 || hits == 0 {
		t.Fatalf("foreign registry got %d requests with credentials %q", hits, auths)
	}
}

// TestEgressKeepsCredentialsOffTokenRealms: a registry's 401 names a token
// realm, to which go-containerregistry sends Basic credentials. Even the
// own registry must not be able to send them elsewhere.
func TestEgressKeepsCredentialsOffTokenRealms(t *testing.T) {
	realm := newRecordingRegistry(t)
	realmHost := "localhost:" + realm.URL[strings.LastIndexByte(realm.URL, ':')+1:]
	realmURL := "http://" + realmHost
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// go-containerregistry refuses realms on IP literals of private
		// addresses, not names.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realmURL+`/token",service="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer own.Close()
	host := strings.TrimPrefix(own.URL, "http://")
	e := NewEgress(host, []string{realmHost})
	Resolve(context.Background(), host+"/p/app:v1", append(e.Options(nodeCreds), WithRemoteOnly())...)
	if auths, hits := realm.seen(); len(auths) != 0 || hits == 0 {
		t.Fatalf("token realm got %d requests with credentials %q", hits, auths)
	}
}

// TestEgressCredentialsReachOwnRegistry: the own registry still gets them.
func TestEgressCredentialsReachOwnRegistry(t *testing.T) {
	own := newRecordingRegistry(t)
	ref := own.push(t, "p/app")
	e := NewEgress(own.host(), nil)
	if _, err := Resolve(context.Background(), ref, append(e.Options(nodeCreds), WithRemoteOnly())...); err != nil {
		t.Fatal(err)
	}
	if auths, _ := own.seen(); len(auths) == 0 {
		t.Fatal("own registry got no credentials")
	}
}

// TestEgressRefusesNonPublicRegistries: image references to loopback,
// private and link-local hosts are refused at dial time, also when a name
// resolves to loopback, and the user is told so in fixed words.
func TestEgressRefusesNonPublicRegistries(t *testing.T) {
	target := newRecordingRegistry(t)
	ref := target.push(t, "x/app")
	_, port, _ := strings.Cut(target.host(), ":")
	e := NewEgress("operator.invalid:7070", nil)
	for _, host := range []string{
		target.host(),                // 127.0.0.1
		"localhost:" + port,          // a name that resolves to loopback
		"[::1]:" + port,              // IPv6 loopback
		"10.1.2.3:5000",              // RFC 1918
		"169.254.169.254:80",         // cloud metadata
		"100.64.0.1:5000",            // CGNAT
		"[fd00::1]:5000",             // unique-local
		"0.0.0.0:" + port,            // unspecified
		"[::ffff:127.0.0.1]:" + port, // v4-mapped loopback
	} {
		t.Run(host, func(t *testing.T) {
			r := host + "/x/app:v1"
			if host == target.host() {
				r = ref
			}
			_, err := Resolve(context.Background(), r, append(e.Options(nodeCreds), WithRemoteOnly(), WithInsecure())...)
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("resolve %s: %v, want %v", r, err, ErrForbiddenAddress)
			}
			if reason := PullReason(err); !strings.HasPrefix(reason, "registry address not allowed") {
				t.Errorf("reason %q", reason)
			}
		})
	}
	if _, hits := target.seen(); hits != 0 {
		t.Fatalf("the refused registry got %d requests", hits)
	}
	// Allowed by configuration, it is fetched.
	allowed := NewEgress("operator.invalid:7070", []string{target.host()})
	if _, err := Resolve(context.Background(), ref, append(allowed.Options(nil), WithRemoteOnly())...); err != nil {
		t.Fatalf("allowed registry: %v", err)
	}
}

// TestEgressRefusesPrivateAddresses checks the dial-time guard on the
// addresses only loopback may carry test traffic to: it must refuse before
// connecting, so a broken guard sends nothing either.
func TestEgressRefusesPrivateAddresses(t *testing.T) {
	e := NewEgress("operator.invalid:7070", []string{"10.9.9.9:5000"})
	for _, c := range []struct{ addr, resolved string }{
		{"10.1.2.3:5000", "10.1.2.3:5000"},
		{"169.254.169.254:80", "169.254.169.254:80"},
		{"100.64.0.1:5000", "100.64.0.1:5000"},
		{"[fd00::1]:5000", "[fd00::1]:5000"},
		{"registry.example.com:443", "192.168.1.10:443"}, // a public name, a private answer
		{"registry.example.com:443", "127.0.0.1:443"},
	} {
		check := e.control(c.addr)
		if check == nil {
			t.Fatalf("%s: not checked", c.addr)
		}
		if err := check("tcp", c.resolved, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s resolving to %s: %v", c.addr, c.resolved, err)
		}
	}
	if err := e.control("registry.example.com:443")("tcp", "93.184.216.34:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	if e.control("10.9.9.9:5000") != nil || e.control("operator.invalid:7070") != nil {
		t.Error("allowed or own registry is checked")
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"1.1.1.1": true, "2606:4700::1111": true, "172.32.0.1": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"100.64.0.1": false, "169.254.169.254": false, "::1": false, "fe80::1": false,
		"fd00::1": false, "0.0.0.0": false, "::": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestPullReasonHidesRegistryBodies: what a registry answers never reaches
// the user.
func TestPullReasonHidesRegistryBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal-secret-body", http.StatusTeapot)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := Resolve(context.Background(), host+"/x/app:v1", append(NewEgress("", []string{host}).Options(nil), WithRemoteOnly())...)
	if err == nil {
		t.Fatal("resolved")
	}
	if reason := PullReason(err); strings.Contains(reason, "secret") || reason != "registry answered 418" {
		t.Fatalf("reason %q (error %v)", reason, err)
	}
}
