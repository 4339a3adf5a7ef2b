package geodns

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Challenges mirrors the ACME DNS-01 TXT values edges present through the
// operator. DNS servers hold no database credentials, so they read the
// operator's public list (GET /v1/dns/acme-challenges) every refresh:
// that short cache is how long a new value takes to be answered. When
// the operator cannot be reached the last list is kept.
type Challenges struct {
	url    string
	zone   string
	every  time.Duration
	client *http.Client
	log    *slog.Logger
	values atomic.Pointer[map[string][]string] // canonical name -> TXT values
}

// maxChallengeList bounds the body read from the operator.
const maxChallengeList = 1 << 20

// NewChallenges reads from the operator at baseURL, keeping the names in
// zone (canonical).
func NewChallenges(baseURL, zone string, every time.Duration, log *slog.Logger) *Challenges {
	c := &Challenges{url: strings.TrimSuffix(baseURL, "/") + "/v1/dns/acme-challenges", zone: zone, every: every,
		client: &http.Client{Timeout: 10 * time.Second}, log: log}
	c.values.Store(&map[string][]string{})
	return c
}

// Lookup returns the TXT values of a canonical name.
func (c *Challenges) Lookup(name string) []string {
	if c == nil {
		return nil
	}
	return (*c.values.Load())[name]
}

// Run refreshes the list until ctx ends.
func (c *Challenges) Run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("read acme challenges", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads the list once.
func (c *Challenges) Refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("read acme challenges: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("read acme challenges: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read acme challenges: %s", resp.Status)
	}
	var list []api.ACMEChallenge
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxChallengeList)).Decode(&list); err != nil {
		return fmt.Errorf("read acme challenges: %w", err)
	}
	m := map[string][]string{}
	for _, ch := range list {
		name := dns.CanonicalName(ch.Name)
		if !dns.IsSubDomain(c.zone, name) || len(ch.Value) > 255 {
			continue
		}
		m[name] = append(m[name], ch.Value)
	}
	c.values.Store(&m)
	return nil
}
