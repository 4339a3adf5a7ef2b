package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func sampleLayout(t testing.TB) (string, string) {
	t.Helper()
	cfg := ImageConfig{Entrypoint: []string{"/app"}, Cmd: []string{"-v"}, Env: []string{"A=1"}, User: "app", WorkingDir: "/srv", ExposedPorts: []string{"8080/tcp"}}
	img, err := FromFiles(sampleFiles(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return dir, h.String()
}

func TestStoreBuildsOnceUnderConcurrency(t *testing.T) {
	layoutDir, digest := sampleLayout(t)
	cache := t.TempDir()
	// Two stores on one directory stand for two processes.
	stores := make([]*Store, 2)
	for i := range stores {
		s, err := NewStore(cache, testLog(t), WithFreeSpace(32<<20))
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	disks := make([]*Disk, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range disks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			disks[i], errs[i] = stores[i%2].RootDisk(context.Background(), layoutDir, nil)
		}()
	}
	wg.Wait()
	builds := 0
	for i, d := range disks {
		if errs[i] != nil {
			t.Fatalf("RootDisk %d: %v", i, errs[i])
		}
		if d.Digest != digest || d.Path != disks[0].Path {
			t.Errorf("disk %d = %s at %s, want %s at %s", i, d.Digest, d.Path, digest, disks[0].Path)
		}
		if !d.Timings.CacheHit {
			builds++
		}
	}
	if builds != 1 {
		t.Errorf("%d builds of one digest, want 1", builds)
	}
	d := disks[0]
	if d.Config.User != "app" || d.Config.Argv()[0] != "/app" || d.Config.ExposedPorts[0] != "8080/tcp" {
		t.Errorf("config = %+v", d.Config)
	}
	if work, _ := os.ReadDir(filepath.Join(cache, "tmp")); len(work) != 0 {
		t.Errorf("work directories left behind: %v", work)
	}
	debugfs(t, d.Path, "stat /app") // a valid ext4 with the app in it
}

func TestCopyForVM(t *testing.T) {
	layoutDir, _ := sampleLayout(t)
	s, err := NewStore(t.TempDir(), testLog(t), WithFreeSpace(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.RootDisk(context.Background(), layoutDir+":v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "vm1.ext4")
	st, err := s.CopyForVM(context.Background(), d, dst)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(d.Path)
	cp, _ := os.ReadFile(dst)
	if !bytes.Equal(orig, cp) {
		t.Fatal("copy differs from the cached disk")
	}
	info, _ := os.Stat(dst)
	if used := info.Sys().(*syscall.Stat_t).Blocks * 512; st.Method == "sparse" && used > info.Size()/4 {
		t.Errorf("copy uses %d of %d bytes: not sparse", used, info.Size())
	}
	if info.Mode().Perm()&0o200 == 0 {
		t.Errorf("copy mode %v is not writable", info.Mode())
	}
	if _, err := os.Stat(dst + ".tmp"); err == nil {
		t.Error("temporary copy left behind")
	}
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("scribble"), 0)
	f.Close()
	if again, _ := os.ReadFile(d.Path); !bytes.Equal(again, orig) {
		t.Fatal("writing the copy changed the cached disk")
	}
	t.Logf("copy: %s, %d bytes in %v", st.Method, st.Bytes, st.Duration)
}

func TestStoreSizeLimit(t *testing.T) {
	layoutDir, _ := sampleLayout(t)
	cache := t.TempDir()
	s, err := NewStore(cache, testLog(t), WithLimits(Limits{MaxBytes: 64 << 10}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RootDisk(context.Background(), layoutDir, nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 65536 bytes") {
		t.Fatalf("err = %v, want ErrTooLarge naming the limit", err)
	}
	t.Log(err)
	if entries, _ := filepath.Glob(filepath.Join(cache, "*.ext4")); len(entries) != 0 {
		t.Errorf("a disk was cached despite the error: %v", entries)
	}
	if work, _ := os.ReadDir(filepath.Join(cache, "tmp")); len(work) != 0 {
		t.Errorf("work directories left behind: %v", work)
	}
}
