package image

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
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
