package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func twoTagLayout(t *testing.T) (dir, d1, d2 string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "layout")
	var digests []string
	for i, tag := range []string{"v1", "v2"} {
		img, err := FromFiles(map[string]File{"app": {Data: []byte(tag)}}, ImageConfig{Cmd: []string{tag}})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteLayout(dir, img, tag); err != nil {
			t.Fatal(err)
		}
		h, _ := img.Digest()
		digests = append(digests, h.String())
		_ = i
	}
	return dir, digests[0], digests[1]
}

func digestOf(t *testing.T, ref string) string {
	t.Helper()
	img, err := Resolve(context.Background(), ref)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	h, _ := img.Digest()
	return h.String()
}

func TestResolveLayout(t *testing.T) {
	dir, d1, d2 := twoTagLayout(t)
	for ref, want := range map[string]string{dir + ":v1": d1, dir + ":v2": d2, dir + "@" + d2: d2} {
		if got := digestOf(t, ref); got != want {
			t.Errorf("%s = %s, want %s", ref, got, want)
		}
	}
	// Writing v1 again replaces it rather than adding a third entry.
	img, _ := FromFiles(map[string]File{"app": {Data: []byte("new")}}, ImageConfig{})
	if err := WriteLayout(dir, img, "v1"); err != nil {
		t.Fatal(err)
	}
	if h, _ := img.Digest(); digestOf(t, dir+":v1") != h.String() {
		t.Error("v1 not replaced")
	}

	_, err := Resolve(context.Background(), dir)
	if !errors.Is(err, ErrInvalidRef) || !strings.Contains(err.Error(), "holds 2 images") {
		t.Errorf("ambiguous layout: %v", err)
	}
	_, err = Resolve(context.Background(), dir+":nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "tags there: v1, v2") {
		t.Errorf("missing tag: %v", err)
	}
}

func TestResolveOCIArchive(t *testing.T) {
	dir, d1, _ := twoTagLayout(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	tarDir(t, dir, archive)
	if got := digestOf(t, archive+":v1"); got != d1 {
		t.Errorf("archive:v1 = %s, want %s", got, d1)
	}
	img, err := Resolve(context.Background(), archive+":v1")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := Flatten(context.Background(), img, root, Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "app")); got != "v1" {
		t.Errorf("app = %q", got)
	}
}

func TestResolveDockerArchive(t *testing.T) {
	img, err := FromFiles(map[string]File{"app": {Data: []byte("docker")}}, ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "docker.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(context.Background(), archive)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigOf(got)
	if err != nil || cfg.Entrypoint[0] != "/app" {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	root := t.TempDir()
	if _, err := Flatten(context.Background(), got, root, Limits{}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "app")) != "docker" {
		t.Error("wrong content")
	}
}

func TestResolveBadPaths(t *testing.T) {
	tmp := t.TempDir()
	junk := filepath.Join(tmp, "junk.txt")
	os.WriteFile(junk, []byte("not an image"), 0o644)
	empty := filepath.Join(tmp, "emptydir")
	os.Mkdir(empty, 0o755)
	for _, tc := range []struct {
		name, ref, want string
		kind            error
	}{
		{"missing", "./does-not-exist", "does not exist", ErrNotFound},
		{"junk file", junk, "is neither an OCI layout nor an image archive", ErrInvalidRef},
		{"plain dir", empty, "is neither an OCI layout nor an image archive", ErrInvalidRef},
		{"bad reference", "UPPER/Case:tag", "invalid image reference", ErrInvalidRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(context.Background(), tc.ref)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

// tarDir writes the files under dir into a tar archive at out.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: info.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestResolvePlatformFromIndex(t *testing.T) {
	var adds []mutate.IndexAddendum
	want := map[string]string{}
	for _, arch := range []string{"arm64", runtime.GOARCH + "-other", runtime.GOARCH} {
		img, err := FromFiles(map[string]File{"arch": {Data: []byte(arch)}}, ImageConfig{})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := img.Digest()
		want[arch] = h.String()
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: strings.TrimSuffix(arch, "-other"), Variant: map[bool]string{true: "v9"}[strings.HasSuffix(arch, "-other")]},
		}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: "multi"})); err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, dir+":multi"); got != want[runtime.GOARCH] && got != want[runtime.GOARCH+"-other"] {
		t.Errorf("picked %s, want the %s image", got, runtime.GOARCH)
	}
	_, err = Resolve(context.Background(), dir+":multi", WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"}))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no image for linux/s390x") {
		t.Errorf("missing platform: %v", err)
	}
}

func TestResolveRemoteOnly(t *testing.T) {
	dir, _, _ := twoTagLayout(t)
	if !IsLocal(dir + ":v1") {
		t.Fatal("layout path not seen as local")
	}
	if _, err := Resolve(context.Background(), dir+":v1", WithRemoteOnly()); !errors.Is(err, ErrInvalidRef) {
		t.Errorf("remote-only resolve of a path: %v", err)
	}
}
