package edgetls

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// projectTable routes a project "web" with HSTS (its versioned URL opted
// out of the redirect) and a project "other" without, to one app.
func projectTable(t *testing.T) api.RouteTable {
	rt := routedApp(t, "other.localhost")
	base := rt.Routes[0]
	base.Project = "other"
	web := base
	web.Project, web.HSTSMaxAge = "web", 600
	versioned := web
	web.Host, versioned.Host, versioned.PlainHTTP = "web.localhost", "abcd2345--web.localhost", true
	rt.Routes = []api.Route{base, web, versioned}
	return rt
}

// get sends GET url through c and returns the status, the HSTS header
// and the body.
func get(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), string(body)
}

// TestProjectHSTS: a project's HSTS max-age is sent on its HTTPS
// responses, replacing the edge's default; a project without one gets the
// default (none here, then 300); no HSTS ever goes out over plain HTTP.
func TestProjectHSTS(t *testing.T) {
	srv, token := newOperator(t)
	ca, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range []int{0, 300} {
		e := startTLSEdge(t, srv, token, projectTable(t), func(c *Config) { c.Issuer = ca; c.HSTS = def })
		https, plain := httpsClient(e.httpsAddr, ca.Pool()), httpsClient(e.httpAddr, nil)
		wantOther := ""
		if def > 0 {
			wantOther = "max-age=300"
		}
		for host, want := range map[string]string{"web.localhost": "max-age=600", "abcd2345--web.localhost": "max-age=600", "other.localhost": wantOther} {
			if code, hsts, _ := get(t, https, "https://"+host+"/"); code != 200 || hsts != want {
				t.Fatalf("edge default %d: HTTPS %s: %d, HSTS %q, want 200, %q", def, host, code, hsts, want)
			}
		}
		for _, host := range []string{"web.localhost", "abcd2345--web.localhost", "other.localhost"} {
			if _, hsts, _ := get(t, plain, "http://"+host+"/"); hsts != "" {
				t.Fatalf("edge default %d: HTTP %s sent HSTS %q", def, host, hsts)
			}
		}
	}
}

// TestVersionedPlainHTTP: the versioned URL of a project that opted out
// is served over plain HTTP as is; its project URL and the other
// project's are still redirected to HTTPS.
func TestVersionedPlainHTTP(t *testing.T) {
	srv, token := newOperator(t)
	ca, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := startTLSEdge(t, srv, token, projectTable(t), func(c *Config) { c.Issuer = ca })
	plain := httpsClient(e.httpAddr, nil)
	if code, _, body := get(t, plain, "http://abcd2345--web.localhost/x"); code != 200 || body != "hello from the app over http" {
		t.Fatalf("versioned URL over HTTP: %d %q, want the app over http", code, body)
	}
	for _, host := range []string{"web.localhost", "other.localhost"} {
		resp, err := plain.Get("http://" + host + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://"+host+":") {
			t.Fatalf("HTTP %s: %s Location %q, want 308 to HTTPS", host, resp.Status, loc)
		}
	}
}
