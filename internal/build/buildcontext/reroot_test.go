package buildcontext

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReroot: the root directory of a repository's archive becomes the
// context, with its own .dockerignore; a root directory that is missing,
// a file, or outside the repository is
// refused as invalid (symlinks: see the GitHub test of BuildContext).
func TestReroot(t *testing.T) {
	repo := archive(t,
		entry{name: "README", data: "top"},
		entry{name: "app/", typ: '5'},
		entry{name: "app/docker/", typ: '5'},
		entry{name: "app/docker/Dockerfile", data: "FROM scratch\n"},
		entry{name: "app/main.go", data: "package main\n"},
		entry{name: "app/.dockerignore", data: "secret\n"},
		entry{name: "app/secret", data: "s"},
	)
	out, err := Reroot(repo, "app", "docker/Dockerfile", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(bytes.NewReader(out), dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, dir)
	want := []string{".dockerignore", "docker/Dockerfile", "main.go"}
	if len(got) != len(want) {
		t.Fatalf("context: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("context: %v, want %v", got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err == nil {
		t.Fatal("a file outside the root directory was sent")
	}
	for _, root := range []string{"missing", "README", "../x", "/../x"} {
		if _, err := Reroot(repo, root, "Dockerfile", 1<<20); !errors.Is(err, ErrInvalid) {
			t.Errorf("root directory %q: %v, want ErrInvalid", root, err)
		}
	}
	if _, err := Reroot(repo, "app", "docker/Dockerfile", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}
