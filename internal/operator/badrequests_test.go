package operator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// sendRaw sends a raw body, as a newcomer with curl would, and returns the
// status, the headers and the decoded error.
func (h *harness) sendRaw(method, path, token, body string) (int, http.Header, api.Error) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Hint == "" {
		h.t.Errorf("%s %s: %d %q is not the API's error JSON with a hint", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, e
}

// TestBadBodies: a malformed body is refused with 400 (413 if too large)
// and a message in JSON's terms, never Go's (EOF, struct or type names),
// and nothing is created.
func TestBadBodies(t *testing.T) {
	h := start(t)
	cases := []struct {
		name, body string
		code       int
		says       string
	}{
		{"empty", "", 400, "request body is empty"},
		{"truncated", `{"name":"a1",`, 400, "ends early"},
		{"not json", `name=a2`, 400, "not JSON"},
		{"array", `[]`, 400, "want a JSON object, got array"},
		{"wrong type", `{"name":1}`, 400, `field "name" must be a string, not number`},
		{"wrong type of integer", `{"name":"a3","port":"80"}`, 400, `field "port" must be an integer, not string`},
		{"unknown field", `{"nme":"a4"}`, 400, `unknown field "nme"`},
		{"trailing data", `{"name":"a5"} {"name":"a6"}`, 400, "more than one JSON value"},
		{"trailing garbage", `{"name":"a7"} garbage`, 400, "more than one JSON value"},
		{"oversized", `{"name":"a8"}` + strings.Repeat(" ", 2<<20), 413, "larger than the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, e := h.sendRaw("POST", "/v1/projects", h.token, c.body)
			if code != c.code || !strings.Contains(e.Error, c.says) {
				t.Fatalf("%d %q, want %d %q", code, e.Error, c.code, c.says)
			}
			for _, leak := range []string{"EOF", "Go ", "json:", "CreateProjectRequest", "int32"} {
				if strings.Contains(e.Error, leak) {
					t.Fatalf("%q shows Go's internals (%s)", e.Error, leak)
				}
			}
		})
	}
	var ps []api.Project
	if code := h.call("GET", "/v1/projects", h.token, nil, &ps); code != 200 || len(ps) != 0 {
		t.Fatalf("rejected bodies created projects: %d %+v", code, ps)
	}
}

// TestWrongMethodIs405: a path that exists answers another method with
// 405 and Allow, not with the catch-all's 404.
func TestWrongMethodIs405(t *testing.T) {
	h := start(t)
	cases := []struct{ method, path, allow string }{
		{"PUT", "/v1/projects", "GET, HEAD, POST"},
		{"POST", "/v1/projects/web", "GET, HEAD, PATCH, DELETE"},
		{"GET", "/v1/projects/web/rollback", "POST"},
		{"DELETE", "/v1/status", "GET, HEAD"},
	}
	for _, c := range cases {
		code, hdr, e := h.sendRaw(c.method, c.path, h.token, "{}")
		if code != 405 || hdr.Get("Allow") != c.allow || !strings.Contains(e.Error, c.method) {
			t.Errorf("%s %s: %d Allow %q %q, want 405 Allow %q", c.method, c.path, code, hdr.Get("Allow"), e.Error, c.allow)
		}
	}
	if _, _, e := h.sendRaw("PUT", "/v1/projects", h.token, "{}"); !strings.Contains(e.Hint, "use GET, HEAD or POST") {
		t.Errorf("405 hint: %q", e.Hint)
	}
	if code, _, e := h.sendRaw("GET", "/v1/projects/web/", h.token, ""); code != 404 || !strings.Contains(e.Hint, "drop the trailing slash: /v1/projects/web") {
		t.Errorf("trailing slash: %d %+v", code, e)
	}
	if code, _, e := h.sendRaw("GET", "/v1/nope", h.token, ""); code != 404 || !strings.Contains(e.Error, "no such endpoint") {
		t.Errorf("unknown path: %d %q", code, e.Error)
	}
}

// TestUnauthorizedNamesScheme: a 401 says how to authenticate
// (WWW-Authenticate), as RFC 9110 asks.
func TestUnauthorizedNamesScheme(t *testing.T) {
	h := start(t)
	for _, token := range []string{"", "zw_wrong"} {
		code, hdr, _ := h.sendRaw("GET", "/v1/projects", token, "")
		if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d WWW-Authenticate %q", token, code, hdr.Get("WWW-Authenticate"))
		}
	}
}

// TestBadQueryNumbers: a ?limit= or ?tail= that is not a whole number in
// range is refused with what is allowed, instead of being quietly answered
// with the default (asking for 1000 and getting 50 looked like the end).
func TestBadQueryNumbers(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	for _, path := range []string{
		"/v1/projects/web/deployments?limit=abc", "/v1/projects/web/deployments?limit=1000", "/v1/projects/web/deployments?limit=0",
		"/v1/projects/web/builds?limit=-1", "/v1/audit?limit=501", "/v1/projects/web/edge-logs?tail=x", "/v1/projects/web/edge-logs?tail=20000",
	} {
		code, _, e := h.sendRaw("GET", path, h.token, "")
		if code != 400 || !strings.Contains(e.Error, "invalid") || !strings.Contains(e.Hint, "whole number from 1 to") {
			t.Errorf("GET %s: %d %+v, want 400 with the range", path, code, e)
		}
	}
	for _, path := range []string{"/v1/projects/web/deployments?limit=500", "/v1/projects/web/deployments", "/v1/projects/web/edge-logs?tail=10000"} {
		if code := h.call("GET", path, h.token, nil, nil); code != 200 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}

// TestPanicIs500JSON: a handler's panic answers 500 with the API's error
// JSON (the CLI showed "EOF", as if the operator were unreachable); one
// that had begun its answer is cut off rather than finished with an error.
func TestPanicIs500JSON(t *testing.T) {
	h, err := operator.ServeOneRoute("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["x"] = 1 // a nil map: the kind of bug a panic is
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatalf("the panic dropped the connection: %v", err)
	}
	defer resp.Body.Close()
	var e api.Error
	if json.NewDecoder(resp.Body).Decode(&e); resp.StatusCode != 500 || !strings.Contains(e.Error, "internal error") || e.Hint == "" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}

	begun, _ := operator.ServeOneRoute("GET /half", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte(`{"partial":`))
		w.(http.Flusher).Flush()
		panic("boom")
	})
	srv2 := httptest.NewServer(begun)
	defer srv2.Close()
	if resp, err := http.Get(srv2.URL + "/half"); err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Fatalf("a begun answer was finished after a panic: %q", b)
		}
	}
}

// TestTokenNamesArePrintable: a token's name is shown to others (the audit
// log names the token of every change), so control characters are
// refused, and nothing is created.
func TestTokenNamesArePrintable(t *testing.T) {
	h := start(t)
	for _, name := range []string{"ci\x1b[2J", "ci\nfake line", "tab\there"} {
		b, _ := json.Marshal(api.CreateTokenRequest{Name: name, Role: "developer"})
		if code, _, e := h.sendRaw("POST", "/v1/tokens", h.token, string(b)); code != 400 || !strings.Contains(e.Error, "control characters") {
			t.Errorf("%q: %d %+v", name, code, e)
		}
	}
	var ts []api.Token
	if code := h.call("GET", "/v1/tokens", h.token, nil, &ts); code != 200 || len(ts) != 1 {
		t.Fatalf("refused names made tokens: %d %+v", code, ts)
	}
	if code := h.call("POST", "/v1/tokens", h.token, api.CreateTokenRequest{Name: "ci deploy – prod", Role: "developer"}, nil); code != 201 {
		t.Errorf("a printable name with spaces and a dash: %d", code)
	}
}
