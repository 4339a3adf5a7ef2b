// Package examples carries the source of the bundled sample app
// (examples/hello) inside the zeitwork binary and builds it into an OCI
// image, so that `zeitwork up` and the end-to-end tests can deploy it on a
// machine with a Go toolchain but no registry, base image or repository
// checkout.
package examples

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/zeitwork/zeitwork/internal/image"
)

//go:embed hello/*.go hello/Dockerfile
var helloSource embed.FS

// SampleTag names the sample image in the layout BuildSampleImage writes.
const SampleTag = "hello"

// SampleConfig is the sample image's run configuration: /app as user 1000.
// The guest init sets PORT.
var SampleConfig = image.ImageConfig{
	Entrypoint:   []string{"/app"},
	User:         "1000:1000",
	WorkingDir:   "/",
	Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	ExposedPorts: []string{"8080/tcp"},
}

// BuildSampleImage compiles the sample app with goCmd ("" means "go" from
// PATH) and writes it as an image tagged SampleTag into the OCI layout at
// outLayoutDir. A zero cfg means SampleConfig; any other cfg is used as it
// is, so a test can add flags (Cmd: -crash, -no-listen) or leave out the
// entrypoint. The same toolchain and cfg always give the same digest, so
// repeated builds hit the disk cache.
func BuildSampleImage(ctx context.Context, goCmd, outLayoutDir string, cfg image.ImageConfig) (string, error) {
	img, err := SampleImage(ctx, goCmd, cfg)
	if err != nil {
		return "", err
	}
	if err := image.WriteLayout(outLayoutDir, img, SampleTag); err != nil {
		return "", err
	}
	h, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("sample image digest: %w", err)
	}
	return h.String(), nil
}

// SampleImage is BuildSampleImage without writing a layout.
func SampleImage(ctx context.Context, goCmd string, cfg image.ImageConfig) (v1.Image, error) {
	if reflect.DeepEqual(cfg, image.ImageConfig{}) {
		cfg = SampleConfig
	}
	work, err := os.MkdirTemp("", "zeitwork-hello-")
	if err != nil {
		return nil, fmt.Errorf("build sample app: %w", err)
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "app")
	if err := BuildSampleBinary(ctx, goCmd, bin); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("build sample app: %w", err)
	}
	files := image.PasswdFiles("app")
	files["/app"] = image.File{Mode: 0o755, Data: data}
	img, err := image.FromFiles(files, cfg)
	if err != nil {
		return nil, fmt.Errorf("build sample image: %w", err)
	}
	return img, nil
}

// BuildSampleBinary compiles the sample app as a static Linux binary at out.
func BuildSampleBinary(ctx context.Context, goCmd, out string) error {
	if goCmd == "" {
		goCmd = "go"
	}
	src, err := os.MkdirTemp("", "zeitwork-hello-src-")
	if err != nil {
		return fmt.Errorf("build sample app: %w", err)
	}
	defer os.RemoveAll(src)
	if err := writeSource(src); err != nil {
		return fmt.Errorf("build sample app: %w", err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build sample app: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", abs, ".")
	cmd.Dir = src
	// GOTOOLCHAIN=local: never try to download a toolchain; GOFLAGS and
	// GOWORK are cleared so a developer's settings cannot change the binary.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off")
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the sample app: %w: %s", err, strings.TrimSpace(string(outb)))
	}
	return nil
}

// writeSource lays out the embedded sample app as a standalone module.
func writeSource(dir string) error {
	goMod := "module zeitwork.dev/hello\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	return fs.WalkDir(helloSource, "hello", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := helloSource.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	})
}

// WriteSampleContext writes a build context for the sample app into dir:
// its Dockerfile (examples/hello/Dockerfile, FROM scratch) and the
// compiled binary it copies. A builder that takes Dockerfiles builds it
// without reaching any registry.
func WriteSampleContext(ctx context.Context, goCmd, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sample build context: %w", err)
	}
	df, err := helloSource.ReadFile("hello/Dockerfile")
	if err != nil {
		return fmt.Errorf("sample build context: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return fmt.Errorf("sample build context: %w", err)
	}
	return BuildSampleBinary(ctx, goCmd, filepath.Join(dir, "hello"))
}
