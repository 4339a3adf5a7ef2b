package buildah

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/build"
)

// TestBuildArgsNotOnCommandLine checks that a build arg's value is in no
// process's command line (world-readable in /proc) while the build runs,
// and that the RUN step still sees it.
func TestBuildArgsNotOnCommandLine(t *testing.T) {
	e := newEnv(t, testLimits)
	secret := "zwarg-" + randHex(t)
	// The step prints the value upper-cased, so the log shows it arrived
	// while the Dockerfile (and so the step's own command line) lacks it.
	dockerfile := "FROM " + e.base + "\nARG TOKEN\nRUN echo seen-$(echo \"$TOKEN\" | tr a-z A-Z); echo scanning-now; sleep 5; echo scan-done\n"
	log := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var leaks []string
	scannedStep := false
	stop := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		for {
			select {
			case <-stop:
				return
			default:
			}
			stepRunning := ran(log.String(), "scanning-now")
			sawStep := false
			for _, c := range cmdlines() {
				if strings.Contains(c, secret) {
					mu.Lock()
					if len(leaks) < 3 && !contains(leaks, c) {
						leaks = append(leaks, c)
					}
					mu.Unlock()
				}
				// The control: buildah bud, given the arg by name, is
				// running while its RUN step does.
				if stepRunning && strings.Contains(c, " bud ") && strings.Contains(c, "--build-arg TOKEN") {
					sawStep = true
				}
			}
			if sawStep {
				mu.Lock()
				scannedStep = true
				mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_, err := e.b.Build(ctx, build.Request{
		ID: "a1", Project: "p1", Push: e.registry + "/acme/web:a1", Log: log,
		Args:       map[string]string{"TOKEN": secret},
		ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile}),
	})
	close(stop)
	<-scanned
	e.checkNothingLeft(t, "p1")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	if !ran(log.String(), "seen-"+strings.ToUpper(secret)) {
		t.Errorf("the RUN step did not see the build arg:\n%s", log)
	}
	mu.Lock()
	defer mu.Unlock()
	if !scannedStep {
		t.Errorf("control: the scan never saw buildah bud running during the RUN step")
	}
	if len(leaks) > 0 {
		t.Errorf("a build arg's value is on a command line: %q", leaks)
	}
}

// cmdlines are the command lines of all processes, arguments joined by
// spaces.
func cmdlines() []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// TestBuildArgsReservedNames checks that build args cannot set buildah's
// own environment.
func TestBuildArgsReservedNames(t *testing.T) {
	for _, name := range []string{"LD_PRELOAD", "HTTPS_PROXY", "https_proxy", "REGISTRY_AUTH_FILE", "PATH", "GODEBUG", "BUILDAH_ISOLATION", "TMPDIR", "1X", "A-B"} {
		if err := checkArgs(map[string]string{name: "x"}); !errors.Is(err, build.ErrUser) {
			t.Errorf("build arg %q: err = %v, want build.ErrUser", name, err)
		}
	}
	for _, name := range []string{"TOKEN", "NPM_TOKEN", "GOPROXY_URL_X", "NODE_ENV", "GOFLAGS", "BASE", "_X"} {
		err := checkArgs(map[string]string{name: "x"})
		if (err == nil) != (name != "GOPROXY_URL_X" && name != "_X") {
			t.Errorf("build arg %q: err = %v", name, err)
		}
	}
}
