// Package cli implements the zeitwork client commands (login, projects,
// deploy, status, logs, env, ...), one file per verb, over the operator's
// REST API.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Config is what `zeitwork login` stores.
type Config struct {
	APIURL string `json:"api_url"`
	Token  string `json:"token"`
	// Org is the current organisation (`zeitwork orgs switch`); empty
	// means the user's first. --org and ZEITWORK_ORG override it.
	Org string `json:"org,omitempty"`
	// CAFile is a PEM file of CA certificates trusted for the operator's
	// HTTPS besides the system's (`zeitwork login --ca-file`); --ca-file
	// and ZEITWORK_CA_FILE override it.
	CAFile string `json:"ca_file,omitempty"`
}

// orgKey carries the --org of the running command in its context: the
// organisation every request of that command names, overriding Config.Org
// ("" names none).
type orgKey struct{}

// withOrg makes the requests made with ctx act in org ("" for none).
func withOrg(ctx context.Context, org string) context.Context {
	return context.WithValue(ctx, orgKey{}, org)
}

// ConfigPath is where the CLI keeps its login.
func ConfigPath() string {
	if p := os.Getenv("ZEITWORK_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = filepath.Join(os.Getenv("HOME"), ".config")
	}
	return filepath.Join(dir, "zeitwork", "config.json")
}

// SaveConfig writes the login, readable only by its owner.
func SaveConfig(c Config) error {
	p := ConfigPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return os.WriteFile(p, b, 0o600)
}

// loadConfig reads the login; ZEITWORK_API_URL and ZEITWORK_TOKEN override it.
func loadConfig() (Config, error) {
	var c Config
	if b, err := os.ReadFile(ConfigPath()); err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("read %s: %w", ConfigPath(), err)
		}
	}
	if v := os.Getenv("ZEITWORK_API_URL"); v != "" {
		c.APIURL = v
	}
	if v := os.Getenv("ZEITWORK_TOKEN"); v != "" {
		c.Token = v
	}
	if v := os.Getenv("ZEITWORK_ORG"); v != "" {
		c.Org = v
	}
	if f := caFileFlag(); f != "" {
		c.CAFile = f // the flag, or ZEITWORK_CA_FILE
	}
	if c.APIURL == "" || c.Token == "" {
		return c, &UserError{Msg: "not logged in", Hint: "run `zeitwork login --api URL --token TOKEN` (zeitwork up does it for you)"}
	}
	return c, checkAPIURL(c.APIURL)
}

// UserError is an error with a suggestion of what to do next.
type UserError struct {
	Msg  string
	Hint string
}

func (e *UserError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + "\n  hint: " + e.Hint
}

// client calls the operator API.
type client struct {
	cfg  Config
	http *http.Client
}

func newClient() (*client, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(cfg, 0)
	if err != nil {
		return nil, err
	}
	return &client{cfg: cfg, http: hc}, nil
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.raw(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return c.badAnswer(method, path, err)
		}
	}
	return nil
}

// badAnswer is the error for a success whose body is not the JSON the CLI
// expects: most likely the URL is not an operator's, or the two versions
// differ. It says which, not what the JSON decoder saw.
func (c *client) badAnswer(method, path string, err error) error {
	what := "an answer the CLI does not understand"
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		what = "an empty or cut-off answer"
	case errors.As(err, &syntax):
		what = "an answer that is not JSON"
	case errors.As(err, &typeErr):
		what = fmt.Sprintf("JSON of another shape (field %q)", typeErr.Field)
	}
	return &UserError{Msg: fmt.Sprintf("%s %s at %s gave %s", method, path, c.cfg.APIURL, what),
		Hint: "is that the operator's API URL (check with `zeitwork login`)? does `zeitwork --version` match the operator's?"}
}

// checkAPIURL refuses an API URL the client could not use, before it is
// stored or used, with the form it wants.
func checkAPIURL(raw string) error {
	u, err := url.Parse(raw)
	hint := "give the operator's address with its scheme and no path, e.g. http://127.0.0.1:7070 or https://ctl.example.com:7070"
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &UserError{Msg: fmt.Sprintf("invalid API URL %q", raw), Hint: hint}
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" || u.RawQuery != "" {
		return &UserError{Msg: fmt.Sprintf("invalid API URL %q: it has a path (%s)", raw, p),
			Hint: fmt.Sprintf("give the operator's address without a path: %s://%s", u.Scheme, u.Host)}
	}
	return nil
}

// raw sends a request and turns API errors into UserErrors.
func (c *client) raw(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.send(req)
}

// request is an authenticated request to the API.
func (c *client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.cfg.APIURL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	org := c.cfg.Org
	if v, ok := ctx.Value(orgKey{}).(string); ok {
		org = v
	}
	if org != "" {
		req.Header.Set(api.OrganisationHeader, org)
	}
	return req, nil
}

// send sends req and turns API errors into UserErrors.
func (c *client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil && untrustedCA(err) {
		return nil, &UserError{Msg: fmt.Sprintf("cannot trust the operator at %s: %v", c.cfg.APIURL, errors.Unwrap(err)), Hint: caFileHint}
	}
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return nil, &UserError{Msg: fmt.Sprintf("the operator at %s closed the connection without answering %s %s", c.cfg.APIURL, req.Method, req.URL.Path),
			Hint: "try again; if it persists, the operator's log says why"}
	}
	if err != nil {
		return nil, &UserError{Msg: fmt.Sprintf("cannot reach the operator at %s: %v", c.cfg.APIURL, errors.Unwrap(err)),
			Hint: "is `zeitwork up` (or the operator) running? check the URL with `zeitwork login`"}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s at %s answered %s", req.Method, req.URL.Path, c.cfg.APIURL, resp.Status)
			e.Hint = "is that the operator's API URL? check it with `zeitwork login`"
		}
		return nil, &UserError{Msg: e.Error, Hint: e.Hint}
	}
	return resp, nil
}

func since(t time.Time) string {
	d := max(time.Since(t).Round(time.Second), 0) // a time ahead of this clock: the operator's may differ a little
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format("2006-01-02")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// loginHTTP is the client of login, before a login is kept: it trusts
// the command's --ca-file (or ZEITWORK_CA_FILE) besides the system's CAs.
func loginHTTP() (*http.Client, error) {
	return httpClient(Config{CAFile: caFileFlag()}, 30*time.Second)
}
