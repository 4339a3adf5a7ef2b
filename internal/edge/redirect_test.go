package edge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestRedirectDomain: a redirect route answers with its status and a
// Location on its target with the request's path and query, whatever the
// method, and never reaches a backend (a dead one here, 502 if tried); a route without a status uses 308.
func TestRedirectDomain(t *testing.T) {
	te := startEdge(t,
		api.Route{Host: "old.example.net", Project: "hello", Redirect: "www.example.net", RedirectStatus: http.StatusFound,
			Backends: []api.Backend{{Instance: "i-1", NodeAddr: deadAddr(t)}}},
		api.Route{Host: "example.net", Project: "hello", Redirect: "www.example.net"},
	)
	// Never follow: the target is not on loopback.
	te.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct{ method, host, path, want string }{
		{"GET", "old.example.net", "/a/b?c=d&e", "http://www.example.net/a/b?c=d&e"},
		{"POST", "OLD.example.net.", "/form", "http://www.example.net/form"},
		{"GET", "old.example.net:8080", "/", "http://www.example.net:8080/"},
	} {
		resp, _ := te.do(t, c.method, c.host, c.path, strings.NewReader(""))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != c.want {
			t.Errorf("%s %s%s: %d %q, want 302 %q", c.method, c.host, c.path, resp.StatusCode, resp.Header.Get("Location"), c.want)
		}
	}
	if resp, _ := te.get(t, "example.net", "/x"); resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "http://www.example.net/x" {
		t.Errorf("default status: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
