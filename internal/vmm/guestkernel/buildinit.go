package guestkernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// InitName is the guest init binary's file name.
const InitName = "zeitwork-init"

const (
	modulePath = "github.com/zeitwork/zeitwork"
	initPkg    = modulePath + "/cmd/zeitwork-init"
)

// ErrNoInit means no prebuilt guest init sits beside the executable.
var ErrNoInit = errors.New("no prebuilt " + InitName + " beside the executable")

// FindInit returns a prebuilt zeitwork-init beside the running executable,
// as release archives and `make build` place it.
func FindInit() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find init: %w", err)
	}
	p := filepath.Join(filepath.Dir(exe), InitName)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", ErrNoInit
}

// BuildInit compiles cmd/zeitwork-init into outDir as a static binary and
// returns its path. It must run inside the Zeitwork module's source tree (a
// checkout), which is where tests and `zeitwork up` from source run.
func BuildInit(ctx context.Context, outDir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("build init: %w", err)
	}
	out := filepath.Join(outDir, InitName)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, initPkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build init: go build: %w: %s", err, bytes.TrimSpace(b))
	}
	return out, nil
}

// InitBinary returns FindInit's binary, or builds one into buildDir.
func InitBinary(ctx context.Context, buildDir string) (string, error) {
	if p, err := FindInit(); err == nil {
		return p, nil
	}
	return BuildInit(ctx, buildDir)
}

// moduleRoot walks up from the working directory to the go.mod of this
// module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + modulePath + " source tree")
		}
		dir = parent
	}
}
