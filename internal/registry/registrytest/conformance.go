// Package registrytest checks a registry.Storage the way the registry
// needs it: the OCI distribution-spec conformance suite against a registry
// on it (RunConformance), and two registries sharing it, as operator
// replicas do (SharedStorage). Each storage package's tests call both.
package registrytest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/registry"
)

var (
	conformanceOnce sync.Once
	conformanceBin  string
	conformanceErr  error
)

// conformanceTool builds the suite into one file under the temporary
// directory, shared by the test binaries of every storage package and
// reused across runs (go build's cache makes a rebuild cheap); the build
// goes to a file of its own first and is renamed into place, so packages
// testing in parallel never run a half-written binary.
func conformanceTool(t *testing.T) string {
	t.Helper()
	conformanceOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "zeitwork-oci-conformance")
		if conformanceErr = os.MkdirAll(dir, 0o700); conformanceErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		tmp := filepath.Join(dir, fmt.Sprintf("conformance-%d", os.Getpid()))
		out, err := exec.Command(goBin, "build", "-o", tmp, "github.com/opencontainers/distribution-spec/conformance").CombinedOutput()
		if err != nil {
			os.Remove(tmp)
			conformanceErr = &buildError{err: err, out: string(out)}
			return
		}
		conformanceBin = filepath.Join(dir, "conformance")
		conformanceErr = os.Rename(tmp, conformanceBin)
	})
	if conformanceErr != nil {
		t.Fatalf("build the OCI conformance suite: %v", conformanceErr)
	}
	return conformanceBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

var reCount = regexp.MustCompile(`(?mi)^  (Pass|Fail|Error|Skip|Disabled)\.*:\s+(\d+)$`)

// RunConformance runs every workflow of the suite (pull, push, content
// discovery, content management, referrers, with sha256 and sha512 data)
// against a registry on st and fails the test unless every check passes.
// The suite is a program (a go.mod tool dependency, pinned there), built
// once per test binary.
func RunConformance(t *testing.T, st registry.Storage) {
	t.Helper()
	g := registry.NewWithStorage(st, nil, slog.New(slog.DiscardHandler))
	t.Helper()
	bin := conformanceTool(t)
	srv := httptest.NewServer(g)
	defer srv.Close()
	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = results
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+strings.TrimPrefix(srv.URL, "http://"),
		"OCI_TLS=disabled",
		"OCI_VERSION=1.1",
		"OCI_RESULTS_DIR="+results,
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_LOG=error",
		// Every API and data kind the suite knows, including the ones
		// off by default, but one: a mount without a source repository
		// is refused on purpose (tenants must not link each other's
		// blobs by digest), which the spec allows and the suite would
		// report as a skip.
		"OCI_API_BLOBS_MOUNT_ANONYMOUS=false",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true",
		"OCI_API_BLOBS_DIGEST_HEADER=true",
		"OCI_API_MANIFESTS_DIGEST_HEADER=true",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	counts := map[string]string{}
	for _, m := range reCount.FindAllStringSubmatch(out.String(), -1) {
		counts[strings.ToUpper(m[1][:1])+strings.ToLower(m[1][1:])] = m[2]
	}
	t.Logf("OCI conformance: pass %s, fail %s, error %s, skip %s, disabled %s",
		counts["Pass"], counts["Fail"], counts["Error"], counts["Skip"], counts["Disabled"])
	if err != nil || counts["Pass"] == "" || counts["Fail"] != "0" || counts["Error"] != "0" || counts["Skip"] != "0" {
		t.Errorf("OCI conformance suite failed (%v):\n%s", err, failures(out.String()))
		os.WriteFile(filepath.Join(os.TempDir(), "zeitwork-oci-conformance-"+t.Name()+".txt"), out.Bytes(), 0o600)
	}
}

// failures keeps the report's lines about what failed.
func failures(report string) string {
	var b strings.Builder
	for _, l := range strings.Split(report, "\n") {
		if strings.Contains(l, ": Fail") || strings.Contains(l, ": Error") || strings.Contains(l, ": Skip") || strings.HasPrefix(strings.TrimSpace(l), "- ") {
			b.WriteString(l + "\n")
		} else if strings.HasPrefix(l, "failed") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
