package geodns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/geodns"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// call sends an ACME challenge request to the operator as an edge.
func call(t *testing.T, method, url, token string, c api.ACMEChallenge) int {
	t.Helper()
	body, _ := json.Marshal(c)
	req, _ := http.NewRequest(method, url+"/v1/edge/acme-challenges", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// txt polls until the TXT answer for name is want.
func (s *server) txt(t *testing.T, name string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := s.query(t, "udp", netip.Addr{}, name, dns.TypeTXT, nil)
		var got []string
		for _, rr := range in.Answer {
			got = append(got, rr.(*dns.TXT).Txt...)
		}
		slices.Sort(got)
		if slices.Equal(got, want) && in.Authoritative {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TXT %s: %v (%s), want %v", name, got, dns.RcodeToString[in.Rcode], want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestACMEChallenges: a value an edge presents through the operator is
// answered as TXT under _acme-challenge.<zone>, two at once (a wildcard
// and the apex), and is gone once cleaned up; only edges present, and
// only names in the apps zone.
func TestACMEChallenges(t *testing.T) {
	op := operatortest.Start(t)
	edge, err := operator.CreateEdgeToken(context.Background(), op.Store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *geodns.Config) {
		c.OperatorURL = op.URL
		c.ChallengeRefresh = geodns.Duration(100 * time.Millisecond)
	})
	name := "_acme-challenge.apps.test"
	s.txt(t, name, nil)
	a := api.ACMEChallenge{Name: name, Value: "aaaa-first-value"}
	b := api.ACMEChallenge{Name: name + ".", Value: "bbbb-second-value"}
	for _, c := range []api.ACMEChallenge{a, b} {
		if code := call(t, "PUT", op.URL, edge, c); code != 204 {
			t.Fatalf("present %v: %d", c, code)
		}
	}
	s.txt(t, name, []string{a.Value, b.Value})
	host := api.ACMEChallenge{Name: "_acme-challenge.web.apps.test", Value: "cccc"}
	call(t, "PUT", op.URL, edge, host)
	s.txt(t, host.Name, []string{"cccc"})

	if code := call(t, "DELETE", op.URL, edge, a); code != 204 {
		t.Fatalf("clean up: %d", code)
	}
	s.txt(t, name, []string{b.Value})

	for _, tc := range []struct {
		name  string
		token string
		c     api.ACMEChallenge
		want  int
	}{
		{"user token", op.Token, a, 403},
		{"no token", "", a, 401},
		{"outside the zone", edge, api.ACMEChallenge{Name: "_acme-challenge.example.com", Value: "x"}, 400},
		{"not a challenge name", edge, api.ACMEChallenge{Name: "web.apps.test", Value: "x"}, 400},
		{"suffix trick", edge, api.ACMEChallenge{Name: "_acme-challenge.evilapps.test", Value: "x"}, 400},
		{"empty value", edge, api.ACMEChallenge{Name: name, Value: ""}, 400},
		{"value with a space", edge, api.ACMEChallenge{Name: name, Value: "a b"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := call(t, "PUT", op.URL, tc.token, tc.c); code != tc.want {
				t.Fatalf("present: %d, want %d", code, tc.want)
			}
		})
	}
}
