package operator_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDashboardAtRoot: the operator serves the dashboard's pages for
// browsers' GETs outside the API, with its security headers, while
// unknown API paths and other methods keep the API's JSON 404.
func TestDashboardAtRoot(t *testing.T) {
	h := start(t)
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, h.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, p := range []string{"/", "/projects/web", "/signin"} {
		resp, body := get("GET", p)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(strings.ToLower(body), "<html") {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("GET %s: CSP %q", p, csp)
		}
	}
	for _, c := range [][2]string{{"GET", "/v1/nope"}, {"GET", "/v1"}, {"POST", "/projects"}, {"DELETE", "/"}} {
		resp, body := get(c[0], c[1])
		if resp.StatusCode != 404 || !strings.Contains(body, `"error"`) || !strings.Contains(body, "no such endpoint") {
			t.Fatalf("%s %s: %d %q, want the API's 404", c[0], c[1], resp.StatusCode, body)
		}
	}
}
