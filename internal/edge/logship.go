package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Shipping: lines wait at most shipEvery (or until shipBatch are queued);
// at most shipQueue wait in all, later ones are dropped (and counted) while
// the operator is slow or away, so that the edge's memory stays bounded.
const (
	shipEvery = time.Second
	shipBatch = 1000
	shipQueue = 20000
)

// LogShipper sends the access log lines of routed requests to the
// operator's POST /v1/edge/logs in batches, for `zeitwork logs --edge`.
type LogShipper struct {
	url    string
	token  string
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	queue   []api.EdgeLogLine
	wake    chan struct{}
	dropped atomic.Uint64
}

// NewLogShipper returns a shipper to baseURL with the edge's bearer token;
// Config.Ship makes an edge use it. A nil httpClient means one with a
// 30 s timeout.
func NewLogShipper(baseURL, token string, httpClient *http.Client, log *slog.Logger) *LogShipper {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &LogShipper{url: strings.TrimRight(baseURL, "/") + "/v1/edge/logs", token: token,
		client: httpClient, log: log, wake: make(chan struct{}, 1)}
}

// Dropped counts lines dropped because the queue was full.
func (s *LogShipper) Dropped() uint64 { return s.dropped.Load() }

// add queues a line; it never blocks the request.
func (s *LogShipper) add(l api.EdgeLogLine) {
	s.mu.Lock()
	if len(s.queue) >= shipQueue {
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, l)
	full := len(s.queue) >= shipBatch
	s.mu.Unlock()
	if full {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// run ships queued lines every shipEvery (sooner when a batch is full)
// until ctx ends. A batch the operator did not take is sent again later,
// in front of newer lines.
func (s *LogShipper) run(ctx context.Context) {
	tick := time.NewTicker(shipEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
		for ctx.Err() == nil {
			s.mu.Lock()
			n := min(len(s.queue), shipBatch)
			batch := s.queue[:n:n]
			s.mu.Unlock()
			if n == 0 {
				break
			}
			if err := s.send(ctx, batch); err != nil {
				s.log.Warn("edge: ship access log lines; retrying", "err", err, "lines", n)
				break
			}
			s.mu.Lock()
			s.queue = append(s.queue[:0:0], s.queue[n:]...)
			s.mu.Unlock()
		}
	}
}

func (s *LogShipper) send(ctx context.Context, lines []api.EdgeLogLine) error {
	body, err := json.Marshal(api.EdgeLogBatch{Lines: lines})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("ship logs: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("ship logs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("ship logs: operator answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// shipAccess queues the access log line of a routed request.
func (e *Edge) shipAccess(project string, attrs []slog.Attr) {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	e.cfg.Ship.add(api.EdgeLogLine{Project: project, Time: time.Now().UTC(), Text: strings.TrimSuffix(b.String(), "\n")})
}
