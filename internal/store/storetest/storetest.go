// Package storetest gives tests a real, freshly migrated PostgreSQL database.
//
// A package's TestMain calls Main, which starts a private cluster (package
// pglocal) unless ZEITWORK_TEST_DATABASE_URL names a server to use; each test
// then calls New for a database of its own, cloned from a migrated template.
// A missing PostgreSQL fails the tests: it never skips them.
package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/pglocal"
	"github.com/zeitwork/zeitwork/internal/store"
)

var (
	baseURL string
	counter atomic.Int64
)

const template = "zeitwork_template"

// Main runs the package's tests against a PostgreSQL server.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	baseURL = os.Getenv("ZEITWORK_TEST_DATABASE_URL")
	if baseURL == "" {
		dir, err := os.MkdirTemp("", "zeitwork-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c, err := pglocal.Start(ctx, dir, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintln(os.Stderr, "storetest: start postgresql:", err)
			return 1
		}
		defer c.Stop()
		baseURL = c.URL
	}
	if err := makeTemplate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	return m.Run()
}

func makeTemplate(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, withDatabase(baseURL, "postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	s, err := store.Open(ctx, withDatabase(baseURL, template))
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	s.Close()
	return nil
}

// URL returns the URL of a new, migrated, empty database for this test.
func URL(t testing.TB) string {
	t.Helper()
	if baseURL == "" {
		t.Fatal("storetest: call storetest.Main from TestMain")
	}
	ctx := context.Background()
	name := fmt.Sprintf("zw_%d_%d", os.Getpid(), counter.Add(1))
	admin, err := pgx.Connect(ctx, withDatabase(baseURL, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, withDatabase(baseURL, "postgres"))
		if err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return withDatabase(baseURL, name)
}

// New opens a Store on a new database for this test.
func New(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}
