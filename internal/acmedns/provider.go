// Package acmedns is the edges' DNS provider for ACME DNS-01 challenges in
// the apps zone (a libdns provider, as certmagic's DNS01Solver wants): it
// presents and removes the TXT values through the operator's API
// (/v1/edge/acme-challenges, with the edge's token), and the DNS servers
// (zeitwork dns, internal/geodns) answer them. It is what lets edges get
// a wildcard certificate for the apps zone.
package acmedns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Provider presents TXT records through the operator at OperatorURL.
type Provider struct {
	OperatorURL string
	Token       string       // an edge token
	Client      *http.Client // default: 10 s timeout
}

// AppendRecords presents each TXT record (certmagic calls it with one).
func (p *Provider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.each(ctx, http.MethodPut, zone, recs)
}

// DeleteRecords removes each TXT record; removing one that is not there
// is no error.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.each(ctx, http.MethodDelete, zone, recs)
}

func (p *Provider) each(ctx context.Context, method, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var done []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		if rr.Type != "TXT" {
			return done, fmt.Errorf("acme dns: %s records are not supported, only TXT", rr.Type)
		}
		c := api.ACMEChallenge{Name: strings.TrimSuffix(libdns.AbsoluteName(rr.Name, zone), "."), Value: rr.Data}
		if err := p.call(ctx, method, c); err != nil {
			return done, err
		}
		done = append(done, rec)
	}
	return done, nil
}

func (p *Provider) call(ctx context.Context, method string, c api.ACMEChallenge) error {
	body, _ := json.Marshal(c)
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(p.OperatorURL, "/")+"/v1/edge/acme-challenges", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("acme dns %s %s: %w", method, c.Name, err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "application/json")
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("acme dns %s %s: %w", method, c.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("acme dns %s %s: %s: %s", method, c.Name, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Interface guards: what certmagic's DNS01Solver needs.
var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
)
