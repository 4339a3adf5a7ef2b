package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpServesTheSampleAndCleansUpOnInterrupt runs the README's first
// command the way a newcomer does: the real binary, `zeitwork up`, waits for
// the sample app's URL, fetches it through the edge, presses Ctrl-C, and
// checks that nothing is left running.
func TestUpServesTheSampleAndCleansUpOnInterrupt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("zeitwork up needs root (tap devices, network namespaces); run the tests as root as CI does")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "zeitwork")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command(bin, "up", "--state-dir", state,
		"--api-listen", "127.0.0.1:0", "--edge-listen", "127.0.0.1:0", "--edge-https", "127.0.0.1:0", "--metrics-listen", "")
	cmd.Env = append(os.Environ(), "ZEITWORK_CONFIG="+filepath.Join(dir, "config.json"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	projectURL := regexp.MustCompile(`^\s+http://hello\.localhost:(\d+)$`)
	trustLine := regexp.MustCompile(`^\s+curl --cacert (\S+) https://hello\.localhost:(\d+)/$`)
	var port, rootFile, httpsPort string
	var seen []string
	// fail reads stderr only once the process is gone: until Wait returns,
	// exec's copying goroutine may still be writing to it.
	fail := func(what string) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s:\n%s\n%s", what, strings.Join(seen, "\n"), stderr.String())
	}
	deadline := time.After(3 * time.Minute)
	for port == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				fail("zeitwork up exited before serving the sample")
			}
			seen = append(seen, line)
			if m := projectURL.FindStringSubmatch(line); m != nil {
				port = m[1]
			}
			if m := trustLine.FindStringSubmatch(line); m != nil {
				rootFile, httpsPort = m[1], m[2]
			}
		case <-deadline:
			fail("no sample URL printed")
		}
	}
	// The sample waits for the node's first VM template, so that its
	// instances restore from it.
	if out := strings.Join(seen, "\n"); !regexp.MustCompile(`Preparing the VM template.*\n\s+ready in`).MatchString(out) {
		fail("the sample did not wait for a ready VM template")
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+"/", nil)
	req.Host = "hello.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Hello from Zeitwork") {
		t.Fatalf("sample app: %d %.200s", resp.StatusCode, body)
	}
	checkUpHTTPS(t, rootFile, httpsPort)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		seen = append(seen, line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("zeitwork up after Ctrl-C: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("zeitwork up did not stop within a minute of Ctrl-C")
	}
	if !strings.Contains(strings.Join(seen, "\n"), "==> Stopped") {
		t.Errorf("no stop message:\n%s", strings.Join(seen, "\n"))
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), state) {
			t.Errorf("left running: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if _, err := os.Stat("/run/netns/zeitwork"); !os.IsNotExist(err) {
		t.Errorf("network namespace left behind: %v", err)
	}
	if disks, _ := os.ReadDir(filepath.Join(state, "node", "disks")); len(disks) != 0 {
		t.Errorf("disks left behind: %d", len(disks))
	}
}

// checkUpHTTPS fetches the sample over HTTPS as the printed curl line
// does: its certificate verifies against the local CA's root.
func checkUpHTTPS(t *testing.T, rootFile, port string) {
	t.Helper()
	if rootFile == "" {
		t.Fatal("zeitwork up printed no HTTPS line with the local CA's root")
	}
	pem, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", rootFile)
	}
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	resp, err := c.Get("https://hello.localhost:" + port + "/")
	if err != nil {
		t.Fatalf("sample app over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Hello from Zeitwork") {
		t.Fatalf("sample app over HTTPS: %d %.200s", resp.StatusCode, body)
	}
}
