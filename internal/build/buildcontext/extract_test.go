package buildcontext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name, link string
	typ        byte
	data       string
}

func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o644, Size: int64(len(e.data))}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.data))
	}
	tw.Close()
	return buf.Bytes()
}

func TestExtractRefusesUnsafeArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
	}{
		{"dot dot", []entry{{name: "../evil", data: "x"}}},
		{"dot dot inside", []entry{{name: "a/../../evil", data: "x"}}},
		{"absolute path", []entry{{name: "/etc/evil", data: "x"}}},
		{"absolute symlink", []entry{{name: "l", link: "/etc/passwd", typ: tar.TypeSymlink}}},
		{"symlink up", []entry{{name: "l", link: "../../x", typ: tar.TypeSymlink}}},
		{"write through a symlink", []entry{{name: "l", link: ".", typ: tar.TypeSymlink}, {name: "l/x", data: "x"}}},
		{"symlink through a link to itself", []entry{
			{name: "a", link: ".", typ: tar.TypeSymlink}, {name: "b", link: "a/../x", typ: tar.TypeSymlink}}},
		{"symlink made before the link it goes through", []entry{
			{name: "b", link: "a/../x", typ: tar.TypeSymlink}, {name: "a", link: ".", typ: tar.TypeSymlink}}},
		{"hard link out", []entry{{name: "h", link: "../etc/passwd", typ: tar.TypeLink}}},
		{"hard link to a missing file", []entry{{name: "h", link: "nope", typ: tar.TypeLink}}},
		{"char device", []entry{{name: "null", typ: tar.TypeChar}}},
		{"fifo", []entry{{name: "p", typ: tar.TypeFifo}}},
		{"not a tar", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "ctx")
			os.Mkdir(dir, 0o755)
			data := archive(t, tt.entries...)
			if tt.entries == nil {
				data = []byte("this is not a tar archive, not even close to one............")
			}
			err := Extract(bytes.NewReader(data), dir, 1<<20)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Extract = %v, want ErrInvalid", err)
			}
			if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
				t.Fatal("wrote outside the context")
			}
		})
	}
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	data := archive(t,
		entry{name: "Dockerfile", data: "FROM scratch\n"},
		entry{name: "src/", typ: tar.TypeDir},
		entry{name: "src/main.go", data: "package main\n"},
		entry{name: "node_modules/pkg/bin.js", data: "js"},
		entry{name: "node_modules/.bin/pkg", link: "../pkg/bin.js", typ: tar.TypeSymlink},
		entry{name: "copy.go", link: "src/main.go", typ: tar.TypeLink},
	)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	if err := Extract(&gz, dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"Dockerfile": "FROM scratch\n", "node_modules/.bin/pkg": "js", "copy.go": "package main\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestExtractSizeLimit(t *testing.T) {
	data := archive(t, entry{name: "a", data: string(make([]byte, 600))}, entry{name: "b", data: string(make([]byte, 600))})
	err := Extract(bytes.NewReader(data), t.TempDir(), 1000)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Extract = %v, want ErrTooLarge", err)
	}
	if err := Extract(bytes.NewReader(data), t.TempDir(), 1200); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

// FuzzExtract: whatever the archive, nothing is written outside the
// context directory and no symlink inside it leads out.
func FuzzExtract(f *testing.F) {
	f.Add(archive(f, entry{name: "a/b", data: "x"}, entry{name: "l", link: "a/b", typ: tar.TypeSymlink}))
	f.Add(archive(f, entry{name: "a", link: ".", typ: tar.TypeSymlink}, entry{name: "b", link: "a/../x", typ: tar.TypeSymlink}))
	f.Add(archive(f, entry{name: "../x", data: "x"}))
	f.Add(archive(f, entry{name: "h", link: "a/b", typ: tar.TypeLink}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "ctx")
		os.Mkdir(dir, 0o755)
		err := Extract(bytes.NewReader(data), dir, 1<<16)
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Fatalf("wrote outside the context: %v", ents)
		}
		if err != nil {
			return
		}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
			if d == nil || d.Type()&os.ModeSymlink == 0 {
				return nil
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling inside the context
			}
			if rel, _ := filepath.Rel(dir, real); rel == ".." || len(rel) > 2 && rel[:3] == "../" {
				t.Fatalf("symlink %s leads to %s, outside the context", p, real)
			}
			return nil
		})
	})
}
