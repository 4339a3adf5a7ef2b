package operator_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestEnvLimits: a project's env vars are bounded in number and total size,
// names are checked, and a refused write changes nothing.
func TestEnvLimits(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.EnvMaxVars = 3; c.EnvMaxBytes = 100 })
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	set := func(name, value string) (int, api.Error) {
		var e api.Error
		return h.call("PUT", "/v1/projects/web/env/"+name, h.token, api.EnvVar{Value: value}, &e), e
	}
	for _, c := range []struct {
		name, value string
		code        int
		says        string
	}{
		{"A", strings.Repeat("a", 40), 204, ""},
		{"B", strings.Repeat("b", 40), 204, ""},
		{"C", strings.Repeat("c", 40), 413, "limit 100"},             // 3*42 bytes > 100
		{"A", strings.Repeat("a", 50), 204, ""},                      // replacing counts once: 52+42
		{"C", "c", 204, ""},                                          // 52+42+3 = 97
		{"D", "d", 413, "at most 3 env vars"},                        // a fourth
		{"C", strings.Repeat("c", 200), 413, "limit 100"},            // over the total alone
		{"C", "nul\x00byte", 400, "NUL"},                             //
		{"1X", "x", 400, "invalid env var name"},                     //
		{"X%3DY", "x", 400, "invalid env var name"},                  // X=Y
		{"X%00", "x", 400, "invalid env var name"},                   //
		{strings.Repeat("N", 129), "x", 400, "invalid env var name"}, //
	} {
		code, e := set(c.name, c.value)
		if code != c.code || !strings.Contains(e.Error, c.says) || (code >= 400 && e.Hint == "") {
			t.Errorf("set %.20s=%.20q: %d %+v, want %d %q with a hint", c.name, c.value, code, e, c.code, c.says)
		}
	}
	var vars []api.EnvVar
	h.call("GET", "/v1/projects/web/env", h.token, nil, &vars)
	if len(vars) != 3 || vars[0].Name != "A" || vars[1].Name != "B" || vars[2].Name != "C" {
		t.Fatalf("env vars after refused writes: %+v", vars)
	}
}

// TestEnvLimitsHoldUnderConcurrentWrites: writes racing for the last slots
// cannot together exceed the limit.
func TestEnvLimitsHoldUnderConcurrentWrites(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.EnvMaxVars = 5 })
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("PUT", h.url+"/v1/projects/web/env/V"+string(rune('A'+i)), strings.NewReader(`{"value":"x"}`))
			req.Header.Set("Authorization", "Bearer "+h.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == 204 {
			ok++
		} else if c != 413 {
			t.Errorf("status %d", c)
		}
	}
	var vars []api.EnvVar
	h.call("GET", "/v1/projects/web/env", h.token, nil, &vars)
	if ok != 5 || len(vars) != 5 {
		t.Fatalf("%d writes succeeded, %d vars stored; limit 5", ok, len(vars))
	}
}

// TestEnvValueMissing: a PUT without a value ({}) is refused, saying the
// value is missing, rather than setting the variable to ""; an empty
// string given explicitly is a value.
func TestEnvValueMissing(t *testing.T) {
	srv := operatortest.Start(t)
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	for _, kind := range []string{"env", "build-args"} {
		var e api.Error
		if code := h.call("PUT", "/v1/projects/web/"+kind+"/EMPTY", h.token, map[string]any{}, &e); code != 400 ||
			!strings.Contains(e.Error, "value") || !strings.Contains(e.Error, "missing") || e.Hint == "" {
			t.Errorf("%s PUT {}: %d %+v, want 400 saying the value is missing", kind, code, e)
		}
		var vars []api.EnvVar
		h.call("GET", "/v1/projects/web/"+kind, h.token, nil, &vars)
		if len(vars) != 0 {
			t.Errorf("%s: a refused PUT set %+v", kind, vars)
		}
		if code := h.call("PUT", "/v1/projects/web/"+kind+"/EMPTY", h.token, map[string]string{"value": ""}, nil); code != 204 {
			t.Errorf("%s PUT {\"value\": \"\"}: %d, want 204", kind, code)
		}
	}
}
