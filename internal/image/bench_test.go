package image

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/zeitwork/zeitwork/internal/image/registrytest"
)

// benchLayout is an image of 2,000 files of 16 KiB (32 MiB) in 20
// directories, plus the sample files.
func benchLayout(b *testing.B) string {
	b.Helper()
	files := sampleFiles()
	for i := range 2000 {
		data := make([]byte, 16<<10)
		data[0] = byte(i)
		files[fmt.Sprintf("/usr/lib/d%02d/f%04d", i%20, i)] = File{Mode: 0o644, Data: data}
	}
	img, err := FromFiles(files, ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "layout")
	if err := WriteLayout(dir, img, "bench"); err != nil {
		b.Fatal(err)
	}
	return dir
}

func BenchmarkRootDiskMiss(b *testing.B) {
	dir := benchLayout(b)
	var last *Disk
	for b.Loop() {
		s, err := NewStore(b.TempDir(), testLog(b))
		if err != nil {
			b.Fatal(err)
		}
		if last, err = s.RootDisk(context.Background(), dir, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(last.Timings.Unpack.Milliseconds()), "unpack-ms")
	b.ReportMetric(float64(last.Timings.Build.Milliseconds()), "mkfs-ms")
}

func BenchmarkRootDiskHit(b *testing.B) {
	dir := benchLayout(b)
	s, err := NewStore(b.TempDir(), testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.RootDisk(context.Background(), dir, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.RootDisk(context.Background(), dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopyForVM(b *testing.B) {
	s, err := NewStore(b.TempDir(), testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.RootDisk(context.Background(), benchLayout(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(b.TempDir(), "vm.ext4")
	for b.Loop() {
		if _, err := s.CopyForVM(context.Background(), d, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRootDiskHitRegistry is a cache hit of a private image named by
// digest on a registry on loopback, with the node's egress policy and the
// project's login: what a node does when it starts a known image again.
// "/proved" is a start within the proof's lifetime; "/check" asks the
// registry every time (a start after the proof expired).
func BenchmarkRootDiskHitRegistry(b *testing.B) {
	reg := registrytest.New(b, "alice", "alice-secret")
	auth := &authn.Basic{Username: "alice", Password: "alice-secret"}
	dst, _ := name.ParseReference(reg.Host + "/alice/app:v1")
	pushed, err := Push(context.Background(), benchLayout(b)+":bench", dst, auth, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEgress("operator.invalid:7070", []string{reg.Host, strings.TrimPrefix(reg.Elsewhere.URL, "http://")})
	opts := e.OptionsFor(nil, &Credentials{Host: reg.Host, Username: "alice", Password: "alice-secret"})
	s, err := NewStore(b.TempDir(), testLog(b), WithResolveOptions(WithRemoteOnly()))
	if err != nil {
		b.Fatal(err)
	}
	ref := reg.Host + "/alice/app@" + pushed
	if _, err := s.RootDisk(context.Background(), ref, nil, opts...); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"proved", "check"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "check" {
					s.forgetProofs()
				}
				d, err := s.RootDisk(context.Background(), ref, nil, opts...)
				if err != nil || !d.Timings.CacheHit {
					b.Fatalf("hit %v: %v", d != nil && d.Timings.CacheHit, err)
				}
				d.Release()
			}
		})
	}
}
