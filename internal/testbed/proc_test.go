package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the zeitwork binary and the guest init next to it
// (where the node looks for it) once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "zwtestbed-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{{"zeitwork", "./cmd/zeitwork"}, {"zeitwork-init", "./cmd/zeitwork-init"}} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(buildDir, b.out), b.pkg)
			cmd.Dir = "../.."
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w: %s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "zeitwork")
}

// TestMain removes the binaries built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// proc is a zeitwork process running as one host's role.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  string // stdout and stderr
	done chan struct{}
}

// startProc runs bin with args inside h's namespace (nsenter switches
// only the network namespace: the host's files and /run/netns stay
// visible, as on a machine of its own). It is stopped when the test ends.
func startProc(t *testing.T, dir string, h *host, env []string, bin string, args ...string) *proc {
	t.Helper()
	out := filepath.Join(dir, h.name+".log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.ns, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", h.name, err)
	}
	p := &proc{name: h.name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM, then SIGKILL if the process has not exited within
// a few seconds, and waits for it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// size is how many bytes the process has written to its output so far.
func (p *proc) size() int64 {
	fi, err := os.Stat(p.out)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// linesFrom are the lines of the process's output from byte offset on.
func (p *proc) linesFrom(offset int64) []string {
	b, _ := os.ReadFile(p.out)
	if offset > int64(len(b)) {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b[offset:])), "\n")
}

// tail is the end of the process's output, for failure messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.out)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(bytes.TrimSpace(b))
}
