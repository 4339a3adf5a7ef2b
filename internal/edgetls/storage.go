package edgetls

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Storage is a certmagic.Storage over the operator's API
// (/v1/edge/certs/...), so that every edge shares certificates, keys, ACME
// accounts and challenge tokens without database credentials. The
// operator seals values at rest; locks are leases in PostgreSQL that this
// client keeps fresh while it holds them.
type Storage struct {
	base   string // operator URL
	token  string // edge token
	client *http.Client

	// LockTTL is a lock's lease: a holder that dies frees its names after
	// it (default 2 min). The lease is refreshed every LockTTL/3.
	LockTTL time.Duration
	// LockPoll is how often a waiting Lock asks again (default 1 s).
	LockPoll time.Duration

	mu   sync.Mutex
	held map[string]*heldLock
}

type heldLock struct {
	holder string
	stop   context.CancelFunc
	done   chan struct{}
}

// NewStorage returns storage at the operator base URL with an edge token.
func NewStorage(base, token string, client *http.Client) *Storage {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Storage{base: strings.TrimSuffix(base, "/"), token: token, client: client,
		LockTTL: 2 * time.Minute, LockPoll: time.Second, held: map[string]*heldLock{}}
}

// do sends one request; a 404 is fs.ErrNotExist, as certmagic expects.
func (s *Storage) do(ctx context.Context, method, path string, q url.Values, body io.Reader) ([]byte, error) {
	u := s.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("certificate storage %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	if err != nil {
		return nil, fmt.Errorf("certificate storage %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fs.ErrNotExist
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("certificate storage %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}

func keyQuery(key string) url.Values { return url.Values{"key": {key}} }

// Store writes value under key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	_, err := s.do(ctx, http.MethodPut, "/v1/edge/certs/value", keyQuery(key), bytes.NewReader(value))
	return err
}

// Load reads key; fs.ErrNotExist when it is not there.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	return s.do(ctx, http.MethodGet, "/v1/edge/certs/value", keyQuery(key), nil)
}

// Delete removes key and, for a directory, every key under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	_, err := s.do(ctx, http.MethodDelete, "/v1/edge/certs/value", keyQuery(key), nil)
	return err
}

// Exists reports whether key is a value or a directory.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	data, err := s.do(ctx, http.MethodGet, "/v1/edge/certs/stat", keyQuery(key), nil)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	var ki api.CertKeyInfo
	if err := json.Unmarshal(data, &ki); err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("certificate storage stat %s: %w", key, err)
	}
	return certmagic.KeyInfo{Key: ki.Key, Modified: ki.Modified, Size: ki.Size, IsTerminal: ki.IsTerminal}, nil
}

// List returns the keys under dir: all of them when recursive, else its
// direct children (values and directories), as FileStorage does.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	dir = strings.TrimSuffix(dir, "/")
	data, err := s.do(ctx, http.MethodGet, "/v1/edge/certs/list", url.Values{"prefix": {dir}}, nil)
	if err != nil {
		return nil, err
	}
	var ks api.CertKeys
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("certificate storage list %s: %w", dir, err)
	}
	if len(ks.Keys) == 0 {
		return nil, fs.ErrNotExist
	}
	if recursive {
		return ks.Keys, nil
	}
	return children(dir, ks.Keys), nil
}

// children are the direct children of dir among keys under it.
func children(dir string, keys []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		rest := k
		if dir != "" {
			rest = strings.TrimPrefix(k, dir+"/")
		}
		child, _, _ := strings.Cut(rest, "/")
		if dir != "" {
			child = dir + "/" + child
		}
		if !seen[child] {
			seen[child] = true
			out = append(out, child)
		}
	}
	return out
}

// Lock takes the issuance lock for name, waiting until it is free (or its
// holder's lease ran out) or ctx ends. Each call is its own holder, so two
// goroutines of one edge exclude each other too.
func (s *Storage) Lock(ctx context.Context, name string) error {
	holder := newHolder()
	for {
		held, err := s.lockCall(ctx, "lock", name, holder)
		if err != nil {
			return err
		}
		if held {
			s.keep(name, holder)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.LockPoll):
		}
	}
}

// TryLock takes the lock for name if it is free, without waiting.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	holder := newHolder()
	held, err := s.lockCall(ctx, "lock", name, holder)
	if held {
		s.keep(name, holder)
	}
	return held, err
}

// Unlock releases the lock for name taken through this Storage.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("unlock %s: not locked by this edge", name)
	}
	h.stop()
	<-h.done
	_, err := s.lockCall(ctx, "unlock", name, h.holder)
	return err
}

// keep refreshes the lease of a held lock until Unlock.
func (s *Storage) keep(name, holder string) {
	ctx, stop := context.WithCancel(context.Background())
	h := &heldLock{holder: holder, stop: stop, done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go func() {
		defer close(h.done)
		tick := time.NewTicker(s.LockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				// A failed refresh is tried again at the next tick; the
				// lease outlives two of them.
				s.lockCall(ctx, "refresh", name, holder)
			}
		}
	}()
}

func (s *Storage) lockCall(ctx context.Context, op, name, holder string) (bool, error) {
	body, _ := json.Marshal(api.CertLock{Name: name, Holder: holder, TTLSeconds: s.LockTTL.Seconds()})
	data, err := s.do(ctx, http.MethodPost, "/v1/edge/certs/locks/"+op, nil, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", op, name, err)
	}
	var res api.CertLockResult
	if err := json.Unmarshal(data, &res); err != nil {
		return false, fmt.Errorf("%s %s: %w", op, name, err)
	}
	return res.Held, nil
}

// ReportStatus records an issuance outcome at the operator (an empty
// Error: issued) and returns when the name may be tried again.
func (s *Storage) ReportStatus(ctx context.Context, st api.CertStatus) (api.CertAttempt, error) {
	body, _ := json.Marshal(st)
	data, err := s.do(ctx, http.MethodPost, "/v1/edge/certs/status", nil, bytes.NewReader(body))
	return attempt(st.Name, data, err)
}

// Attempt asks the operator whether name waits for its next try after
// failures (of any edge).
func (s *Storage) Attempt(ctx context.Context, name string) (api.CertAttempt, error) {
	data, err := s.do(ctx, http.MethodGet, "/v1/edge/certs/status", url.Values{"name": {name}}, nil)
	return attempt(name, data, err)
}

func attempt(name string, data []byte, err error) (api.CertAttempt, error) {
	var a api.CertAttempt
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("certificate status of %s: %w", name, err)
	}
	return a, nil
}

func newHolder() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)
