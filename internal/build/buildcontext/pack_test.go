package buildcontext

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestPackHonoursDockerignore: Docker's semantics, including "!" taking a
// file back and the Dockerfile and .dockerignore always being sent (and a
// Containerfile, which a build without a Dockerfile uses).
func TestPackHonoursDockerignore(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"Dockerfile":              "FROM scratch",
		"Containerfile":           "FROM scratch",
		".dockerignore":           "node_modules\n*.log\n!keep.log\nDockerfile\nContainerfile\n.git\n",
		"main.go":                 "package main",
		"debug.log":               "x",
		"keep.log":                "x",
		"node_modules/a/index.js": "x",
		".git/HEAD":               "ref",
		"sub/app.log":             "x", // *.log matches only at the top, as in Docker
	})
	var buf bytes.Buffer
	if _, err := Pack(src, "Dockerfile", &buf, 1<<20); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Extract(&buf, dst, 1<<20); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listFiles(t, dst), " ")
	want := ".dockerignore Containerfile Dockerfile keep.log main.go sub/app.log"
	if got != want {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

func TestPackSizeLimit(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"Dockerfile": "FROM scratch", "big": strings.Repeat("x", 2000)})
	_, err := Pack(src, "Dockerfile", &bytes.Buffer{}, 1000)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ".dockerignore") {
		t.Fatalf("Pack = %v, want ErrTooLarge with a hint", err)
	}
}
