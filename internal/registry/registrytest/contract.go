package registrytest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// Contract checks what the registry relies on from a Storage: whole
// objects, reads that seek (range requests), missing keys as
// fs.ErrNotExist, moves that replace, deletes by prefix and sorted
// listings at any depth.
func Contract(t *testing.T, st registry.Storage) {
	t.Helper()
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 170_000) // 2.7 MB: several PostgreSQL chunks
	must(t, st.Put(ctx, "c/a/big", bytes.NewReader(big)))
	must(t, st.Put(ctx, "c/a/small", strings.NewReader("x")))
	must(t, st.Put(ctx, "c/b/deep/er", strings.NewReader("")))
	must(t, st.Put(ctx, "d/other", strings.NewReader("keep")))

	info, err := st.Stat(ctx, "c/a/big")
	if err != nil || info.Size != int64(len(big)) || time.Since(info.ModTime) > time.Hour {
		t.Fatalf("stat: %+v %v", info, err)
	}
	f, err := st.Open(ctx, "c/a/big")
	must(t, err)
	for _, off := range []int64{0, 1<<20 - 7, int64(len(big)) - 5} {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, min(20, int64(len(big))-off))
		if _, err := io.ReadFull(f, got); err != nil || !bytes.Equal(got, big[off:off+int64(len(got))]) {
			t.Fatalf("read at %d: %q %v", off, got, err)
		}
	}
	if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(len(big)) {
		t.Fatalf("seek to end: %d %v", end, err)
	}
	f.Close()

	for _, missing := range []func() error{
		func() error { _, err := st.Open(ctx, "c/none"); return err },
		func() error { _, err := st.Stat(ctx, "c/none"); return err },
		func() error { return st.Touch(ctx, "c/none") },
		func() error { return st.Move(ctx, "c/none", "c/x") },
	} {
		if err := missing(); !isNotExist(err) {
			t.Errorf("a missing key: %v, want fs.ErrNotExist", err)
		}
	}
	must(t, st.Delete(ctx, "c/none"))
	must(t, st.Touch(ctx, "c/a/small"))

	must(t, st.Move(ctx, "c/a/small", "c/a/big")) // replaces
	b := read(t, st, "c/a/big")
	if string(b) != "x" {
		t.Fatalf("after move: %q", b)
	}
	if keys := list(t, st, "c/"); !slices.Equal(keys, []string{"c/a/big", "c/b/deep/er"}) {
		t.Fatalf("list: %v", keys)
	}
	must(t, st.DeletePrefix(ctx, "c/"))
	if keys := list(t, st, "c/"); len(keys) != 0 {
		t.Fatalf("after delete prefix: %v", keys)
	}
	if string(read(t, st, "d/other")) != "keep" {
		t.Fatal("delete prefix removed another prefix")
	}
}

// CollectGarbage checks the registry's GC on st: it removes the blobs of a
// deleted manifest and keeps those of a tagged image.
func CollectGarbage(t *testing.T, st registry.Storage) {
	t.Helper()
	g := registry.NewWithStorage(st, nil, slog.New(slog.DiscardHandler))
	host := serveRegistry(t, g)
	kept, _ := random.Image(1024, 2)
	gone, _ := random.Image(1024, 2)
	if err := remote.Write(ref(t, host, "gc/kept:v1"), kept); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, host, "gc/gone:v1"), gone); err != nil {
		t.Fatal(err)
	}
	d, _ := gone.Digest()
	if resp := do(t, "DELETE", "http://"+host+"/v2/gc/gone/manifests/"+d.String(), nil, ""); resp.StatusCode != 202 {
		t.Fatalf("delete manifest: %d", resp.StatusCode)
	}
	stats, err := g.GC(context.Background(), 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blobs != 4 { // two layers, the config and the manifest
		t.Errorf("gc removed %d blobs, want 4", stats.Blobs)
	}
	img, err := remote.Image(ref(t, host, "gc/kept:v1"))
	if err == nil {
		_, err = img.RawConfigFile()
	}
	if err != nil {
		t.Fatalf("image kept by its tag after gc: %v", err)
	}
	layers, _ := gone.Layers()
	ld, _ := layers[0].Digest()
	if resp := do(t, "GET", "http://"+host+"/v2/gc/gone/blobs/"+ld.String(), nil, ""); resp.StatusCode != 404 {
		t.Errorf("layer of the deleted manifest after gc: %d, want 404", resp.StatusCode)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, st registry.Storage, key string) []byte {
	t.Helper()
	f, err := st.Open(context.Background(), key)
	must(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	must(t, err)
	return b
}

func list(t *testing.T, st registry.Storage, prefix string) []string {
	t.Helper()
	keys, err := st.List(context.Background(), prefix)
	must(t, err)
	return keys
}
