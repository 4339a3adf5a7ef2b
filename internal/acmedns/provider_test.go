package acmedns

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/libdns/libdns"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestProvider: records become absolute challenge names with the edge's
// token; an operator's refusal comes back with its reason; only TXT is
// accepted. (The whole path, with a real operator, DNS server and
// Pebble, is internal/geodns's TestWildcardCertificate.)
func TestProvider(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c api.ACMEChallenge
		json.NewDecoder(r.Body).Decode(&c)
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+c.Name+" "+c.Value)
		if c.Value == "refused" {
			http.Error(w, `{"error":"challenge name is not in the apps zone"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p := &Provider{OperatorURL: srv.URL + "/", Token: "edge-token"}
	ctx := context.Background()
	rec := libdns.TXT{Name: "_acme-challenge", Text: "digest"}
	if _, err := p.AppendRecords(ctx, "apps.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DeleteRecords(ctx, "apps.test.", []libdns.Record{rec}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PUT /v1/edge/acme-challenges Bearer edge-token _acme-challenge.apps.test digest",
		"DELETE /v1/edge/acme-challenges Bearer edge-token _acme-challenge.apps.test digest",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err := p.AppendRecords(ctx, "apps.test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "refused"}})
	if err == nil || !strings.Contains(err.Error(), "not in the apps zone") {
		t.Fatalf("refusal: %v, want the operator's reason", err)
	}
	_, err = p.AppendRecords(ctx, "apps.test.", []libdns.Record{libdns.CNAME{Name: "x", Target: "y."}})
	if err == nil || !strings.Contains(err.Error(), "only TXT") {
		t.Fatalf("CNAME: %v, want refused", err)
	}
}
