package github_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// TestBuildContext: GitHub's top-level directory is stripped, the root
// directory chosen, and a root directory that leaves the repository
// (by name or through a symlink in the tenant's repository) refused.
func TestBuildContext(t *testing.T) {
	repo := githubtest.NewRepo(t)
	repo.Commit("c", map[string]string{"README": "top", "svc/Dockerfile": "FROM scratch\n", "svc/main.go": "package main\n"})
	if err := os.Symlink("..", filepath.Join(repo.Dir, "escape")); err != nil {
		t.Fatal(err)
	}
	sha := repo.Commit("link", nil)
	out, err := exec.Command("git", "-C", repo.Dir, "archive", "--format=tar.gz", "--prefix=acme-web-"+sha+"/", sha).Output()
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := github.BuildContext(out, "svc", "Dockerfile", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, ctx), []string{"Dockerfile", "main.go"}; !equal(got, want) {
		t.Fatalf("context of svc: %v, want %v", got, want)
	}
	ctx, err = github.BuildContext(out, ".", "svc/Dockerfile", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, ctx); !equal(got, []string{"README", "escape", "svc/", "svc/Dockerfile", "svc/main.go"}) {
		t.Fatalf("context of the whole repository: %v", got)
	}
	for _, root := range []string{"escape", "../x", "missing", "README"} {
		if _, err := github.BuildContext(out, root, "Dockerfile", 1<<20); !errors.Is(err, buildcontext.ErrInvalid) {
			t.Errorf("root %q: %v", root, err)
		}
	}
	if _, err := github.BuildContext(out, "svc", "Dockerfile", 4); !errors.Is(err, buildcontext.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

func names(t *testing.T, tgz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
