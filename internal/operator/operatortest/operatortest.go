// Package operatortest runs a real operator on a real, fresh PostgreSQL
// database (package storetest) behind a loopback HTTP server, for tests of
// the operator and of its clients. The test's TestMain must call
// storetest.Main.
package operatortest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/seal"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// Server is a running test operator.
type Server struct {
	URL      string // http://127.0.0.1:port
	Token    string // an API token of the first user (organisation "acme")
	Store    *store.Store
	Operator *operator.Operator
}

// JoinToken makes a single-use join token for a host of role ("node" or
// "edge"), valid for an hour.
func (s *Server) JoinToken(t testing.TB, role string) string {
	t.Helper()
	jt, err := s.Operator.CreateJoinToken(context.Background(), role, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	return jt.Token
}

// Start runs an operator with short timers until the test ends. tweak, if
// given, adjusts its configuration first.
func Start(t testing.TB, tweak ...func(*operator.Config)) *Server {
	t.Helper()
	return StartOn(t, storetest.URL(t), tweak...)
}

// StartOn is Start on a given database (storetest.URL): several operators
// started on one database are replicas sharing it, each with its own
// connection pool. Each gets its own token for the one user of
// organisation "acme".
func StartOn(t testing.TB, dbURL string, tweak ...func(*operator.Config)) *Server {
	t.Helper()
	s, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := operator.Config{
		Store: s, Sealer: sealer, AppsDomain: "apps.test", EdgeURL: "http://{host}",
		RegistryHost: strings.TrimPrefix(srv.URL, "http://"), RegistryDir: t.TempDir(),
		Resync: 200 * time.Millisecond, NodeGrace: 2 * time.Second, Drain: time.Second, ImageRetry: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Tests never ask a real resolver: this loopback port answers
		// nothing, so domain checks fail unless a test runs a DNS server.
		Domains: operator.DomainConfig{DNSServer: "127.0.0.1:9"},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	op, err := operator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", op.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); op.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	token, err := operator.Bootstrap(ctx, s, "acme", "dev@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: srv.URL, Token: token, Store: s, Operator: op}
}
