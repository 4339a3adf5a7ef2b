package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/zeitwork/zeitwork/internal/api"
)

// client talks to the operator's node endpoints.
type client struct {
	base string
	http *http.Client

	mu     sync.Mutex
	token  string
	nodeID string
}

func (c *client) creds() (token, nodeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.nodeID
}

func (c *client) do(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.mu.Lock()
	hc := c.http
	c.mu.Unlock()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e api.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("%s %s: operator answered %d: %s", method, path, resp.StatusCode, e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (c *client) register(ctx context.Context, join string, req api.RegisterNodeRequest) (api.RegisterNodeResponse, error) {
	var resp api.RegisterNodeResponse
	if err := c.do(ctx, http.MethodPost, "/v1/nodes/register", join, req, &resp); err != nil {
		return resp, err
	}
	c.mu.Lock()
	c.token, c.nodeID = resp.NodeToken, resp.NodeID
	c.mu.Unlock()
	return resp, nil
}

func (c *client) heartbeat(ctx context.Context, req api.HeartbeatRequest) error {
	tok, id := c.creds()
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+id+"/heartbeat", tok, req, nil)
}

func (c *client) desired(ctx context.Context, after int64) (api.DesiredState, error) {
	tok, id := c.creds()
	var ds api.DesiredState
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/nodes/%s/desired?after=%d", id, after), tok, nil, &ds)
	return ds, err
}

func (c *client) report(ctx context.Context, instance string, rep api.InstanceReport) error {
	tok, id := c.creds()
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+id+"/instances/"+instance, tok, rep, nil)
}

func (c *client) shipLogs(ctx context.Context, lines []api.LogLine) error {
	tok, id := c.creds()
	return c.do(ctx, http.MethodPost, "/v1/nodes/"+id+"/logs", tok, api.LogBatch{Lines: lines}, nil)
}
