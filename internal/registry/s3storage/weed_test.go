package s3storage_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// A real SeaweedFS (master, volume server, filer and S3 gateway in one
// `weed server` process) on loopback ports of its own, for the package's
// tests. scripts/install-deps.sh builds the weed binary from the module
// version pinned there; ZEITWORK_WEED names another.
type weed struct {
	cmd      *exec.Cmd
	endpoint string
	log      string
}

const (
	weedAccessKey = "zeitwork-test"
	weedSecretKey = "zeitwork-test-secret"
)

func weedBinary() (string, error) {
	if p := os.Getenv("ZEITWORK_WEED"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("SeaweedFS's weed binary is not installed: run scripts/install-deps.sh, or set ZEITWORK_WEED")
}

// freePorts returns n ports free on loopback right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startWeed(dir string) (*weed, error) {
	bin, err := weedBinary()
	if err != nil {
		return nil, err
	}
	p, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(config, []byte(`{"identities":[{"name":"zeitwork","credentials":[{"accessKey":"`+weedAccessKey+`","secretKey":"`+weedSecretKey+`"}],"actions":["Admin","Read","Write","List","Tagging"]}]}`), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	itoa := strconv.Itoa
	w := &weed{endpoint: "127.0.0.1:" + itoa(p[6]), log: filepath.Join(dir, "weed.log")}
	logf, err := os.Create(w.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	w.cmd = exec.Command(bin, "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=16",
		"-master.port="+itoa(p[0]), "-master.port.grpc="+itoa(p[1]),
		"-volume.port="+itoa(p[2]), "-volume.port.grpc="+itoa(p[3]),
		"-filer", "-filer.port="+itoa(p[4]), "-filer.port.grpc="+itoa(p[5]),
		"-s3", "-s3.port="+itoa(p[6]), "-s3.port.grpc="+itoa(p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config="+config)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start weed: %w", err)
	}
	if err := w.waitReady(2 * time.Minute); err != nil {
		w.stop()
		b, _ := os.ReadFile(w.log)
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	return w, nil
}

// waitReady polls until the S3 gateway answers and a bucket can be made.
func (w *weed) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := newStorage(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("seaweedfs s3 at %s not ready after %s: %w", w.endpoint, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *weed) stop() {
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}
