package image

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/image/registrytest"
)

// privateImage pushes the sample image into a private registry, with its
// credentials, and forgets the push's requests.
func privateImage(t *testing.T) (*registrytest.Registry, string) {
	t.Helper()
	reg := registrytest.New(t, "alice", "s3cret-token")
	layoutDir, _ := sampleLayout(t)
	ref := reg.Host + "/acme/web:v1"
	dst, _ := name.ParseReference(ref)
	if _, err := Push(context.Background(), layoutDir+":v1", dst, &authn.Basic{Username: reg.User, Password: reg.Password}, nil); err != nil {
		t.Fatal(err)
	}
	reg.Reset()
	return reg, ref
}

// TestEgressProjectCredentials pulls, as a node does, a private image with
// the project's credentials: the registry gets them, the host its blobs are
// redirected to does not, and neither gets the node's token.
func TestEgressProjectCredentials(t *testing.T) {
	reg, ref := privateImage(t)
	// Loopback registries are allowed only because this test runs them.
	e := NewEgress("operator.invalid:7070", []string{"127.0.0.1"})
	creds := &Credentials{Host: reg.Host, Username: "alice", Password: "s3cret-token"}
	s, err := NewStore(t.TempDir(), testLog(t), WithFreeSpace(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RootDisk(context.Background(), ref, nil, e.OptionsFor(nodeCreds, creds)...); err != nil {
		t.Fatal(err)
	}
	if n, other := reg.Authorized(); n == 0 || len(other) != 0 {
		t.Fatalf("registry got the credentials %d times, and other credentials %q", n, other)
	}
	if auths, hits := reg.Elsewhere.Seen(); hits == 0 || len(auths) != 0 {
		t.Fatalf("redirect target got %d requests, with credentials %q", hits, auths)
	}
}

// TestEgressProjectCredentialsOnlyForTheirHost: credentials for another
// host, or none, do not open the private registry, and it is sent no
// credentials at all (in particular not the node's).
func TestEgressProjectCredentialsOnlyForTheirHost(t *testing.T) {
	reg, ref := privateImage(t)
	e := NewEgress("operator.invalid:7070", []string{"127.0.0.1"})
	for name, creds := range map[string]*Credentials{
		"none":       nil,
		"other host": {Host: "registry.example.com", Username: "alice", Password: "s3cret-token"},
		"own host":   {Host: "operator.invalid:7070", Username: "alice", Password: "s3cret-token"},
	} {
		t.Run(name, func(t *testing.T) {
			reg.Reset()
			_, err := Resolve(context.Background(), ref, append(e.OptionsFor(nodeCreds, creds), WithRemoteOnly())...)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("resolve: %v, want %v", err, ErrUnauthorized)
			}
			if auths, _ := reg.Seen(); len(auths) != 0 {
				t.Fatalf("registry got credentials %q", auths)
			}
		})
	}
}

// TestEgressProjectCredentialsOffTokenRealms: a project's registry that
// names a token realm on another host does not get the credentials sent
// there.
func TestEgressProjectCredentialsOffTokenRealms(t *testing.T) {
	realm := newRecordingRegistry(t)
	realmHost := "localhost:" + realm.URL[strings.LastIndexByte(realm.URL, ':')+1:]
	project := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+realmHost+`/token",service="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer project.Close()
	host := strings.TrimPrefix(project.URL, "http://")
	e := NewEgress("operator.invalid:7070", []string{host, realmHost})
	creds := &Credentials{Host: host, Username: "alice", Password: "s3cret-token"}
	Resolve(context.Background(), host+"/acme/web:v1", append(e.OptionsFor(nodeCreds, creds), WithRemoteOnly())...)
	if auths, hits := realm.seen(); len(auths) != 0 || hits == 0 {
		t.Fatalf("token realm got %d requests with credentials %q", hits, auths)
	}
}
