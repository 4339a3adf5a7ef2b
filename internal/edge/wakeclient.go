package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// OperatorWaker is the Waker that calls the operator's POST
// /v1/edge/wake and POST /v1/edge/activity with the edge's token.
type OperatorWaker struct {
	url    string
	token  string
	client *http.Client
}

// NewOperatorWaker returns a Waker for the operator at baseURL. A nil
// httpClient means one with a 30 s timeout.
func NewOperatorWaker(baseURL, token string, httpClient *http.Client) *OperatorWaker {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &OperatorWaker{url: strings.TrimRight(baseURL, "/"), token: token, client: httpClient}
}

// Wake implements Waker.
func (w *OperatorWaker) Wake(ctx context.Context, deployment string) error {
	return w.post(ctx, "/v1/edge/wake", api.WakeRequest{Deployment: deployment})
}

// ReportActivity implements Waker.
func (w *OperatorWaker) ReportActivity(ctx context.Context, a []api.DeploymentActivity) error {
	return w.post(ctx, "/v1/edge/activity", api.EdgeActivity{Deployments: a})
}

func (w *OperatorWaker) post(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("post %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e api.Error
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(msg, &e) == nil && e.Error != "" {
			return fmt.Errorf("operator answered %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("operator answered %s", resp.Status)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return nil
}

var _ Waker = (*OperatorWaker)(nil)
