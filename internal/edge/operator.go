package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Long-poll timing: the operator holds a poll for about 25 s, so a request
// gets longer than that before the edge gives up on it; failures back off
// exponentially up to maxBackoff.
const (
	pollTimeout = 40 * time.Second
	minBackoff  = 250 * time.Millisecond
	maxBackoff  = 10 * time.Second
)

// OperatorSource long-polls the operator's GET /v1/edge/routes. While the
// operator is unreachable it retries with backoff and the edge keeps serving
// the last table it had.
type OperatorSource struct {
	// Region, when set, is reported with every poll (?region=), so that
	// the operator lists the edge under the region it runs with.
	Region string
	// Direct, set for an edge with the direct transport, reports
	// DirectSource with every poll (?direct_source=): the source address
	// nodes admit to their direct ports. Empty DirectSource: the address
	// the operator sees the poll come from.
	Direct       bool
	DirectSource string
	url          string
	token        string
	client       *http.Client
	log          *slog.Logger
}

// NewOperatorSource returns a source polling baseURL (e.g.
// "http://127.0.0.1:7000") with the edge's bearer token. A nil httpClient
// means a client with default settings; its Timeout must be zero or longer
// than the operator's long-poll hold.
func NewOperatorSource(baseURL, token string, httpClient *http.Client, log *slog.Logger) *OperatorSource {
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &OperatorSource{
		url:    strings.TrimRight(baseURL, "/") + "/v1/edge/routes",
		token:  token,
		client: httpClient,
		log:    log,
	}
}

// Watch implements RouteSource. The first poll asks with after=0, so the
// operator's table versions start at 1.
func (s *OperatorSource) Watch(ctx context.Context, update func(api.RouteTable)) error {
	var version int64
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		t, err := s.poll(ctx, version)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			// Jitter spreads a fleet of edges that lost the operator together.
			wait := backoff/2 + rand.N(backoff/2+1)
			s.log.Warn("edge: poll routes; keeping the last table", "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		backoff = 0
		if t.Version != version {
			version = t.Version
			update(t)
		}
	}
	return nil
}

// poll makes one long-poll request.
func (s *OperatorSource) poll(ctx context.Context, after int64) (api.RouteTable, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	u := s.url + "?after=" + url.QueryEscape(strconv.FormatInt(after, 10))
	if s.Region != "" {
		u += "&region=" + url.QueryEscape(s.Region)
	}
	if s.Direct {
		u += "&direct_source=" + url.QueryEscape(s.DirectSource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return api.RouteTable{}, fmt.Errorf("poll routes: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return api.RouteTable{}, fmt.Errorf("poll routes: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return api.RouteTable{}, fmt.Errorf("poll routes: operator answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var t api.RouteTable
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return api.RouteTable{}, fmt.Errorf("poll routes: decode: %w", err)
	}
	return t, nil
}

var _ RouteSource = (*OperatorSource)(nil)
