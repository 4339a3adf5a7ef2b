package s3storage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	sockets  []string // weed's gRPC sockets, which it leaves in /tmp
	cmd      *exec.Cmd
	exited   chan struct{}
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

// freePorts returns n ports free on loopback right now, below the
// ephemeral range (32768 and up on Linux), where outgoing connections of
// other tests would take them between this check and weed's bind.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no %d free loopback ports below 32768", n)
		}
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	return ports, nil
}

// startWeed starts SeaweedFS, trying again on new ports if another
// process took one of them first.
func startWeed(dir string) (*weed, error) {
	var err error
	for range 3 {
		var w *weed
		if w, err = startWeedOnce(dir); err == nil {
			return w, nil
		}
	}
	return nil, err
}

func startWeedOnce(dir string) (*weed, error) {
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
	data, err := os.MkdirTemp(dir, "data-")
	if err != nil {
		return nil, err
	}
	itoa := strconv.Itoa
	w := &weed{endpoint: "127.0.0.1:" + itoa(p[6]), log: filepath.Join(data, "weed.log")}
	for i, svc := range map[int]string{1: "master", 3: "volume", 5: "filer", 7: "s3"} {
		w.sockets = append(w.sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", svc, p[i]))
	}
	logf, err := os.Create(w.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// -logtostderr: glog would otherwise leave log files in /tmp.
	w.cmd = exec.Command(bin, "-logtostderr", "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=16",
		"-master.port="+itoa(p[0]), "-master.port.grpc="+itoa(p[1]),
		"-volume.port="+itoa(p[2]), "-volume.port.grpc="+itoa(p[3]),
		"-filer", "-filer.port="+itoa(p[4]), "-filer.port.grpc="+itoa(p[5]),
		"-s3", "-s3.port="+itoa(p[6]), "-s3.port.grpc="+itoa(p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config="+config,
		"-filer.localSocket="+filepath.Join(data, "filer.sock"), "-s3.localSocket="+filepath.Join(data, "s3.sock"))
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start weed: %w", err)
	}
	w.exited = make(chan struct{})
	go func() { w.cmd.Wait(); close(w.exited) }()
	if err := w.waitReady(2 * time.Minute); err != nil {
		b, _ := os.ReadFile(w.log)
		w.stop()
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	return w, nil
}

// waitReady polls until the S3 gateway answers and a bucket can be made.
func (w *weed) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := newStorage(ctx, w.endpoint, "ready/")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("seaweedfs s3 at %s not ready after %s: %w", w.endpoint, limit, err)
		}
		select {
		case <-w.exited:
			return fmt.Errorf("weed exited before its s3 gateway was ready")
		case <-time.After(200 * time.Millisecond): // poll interval
		}
	}
}

func (w *weed) stop() {
	w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		w.cmd.Process.Kill()
		<-w.exited
	}
	for _, s := range w.sockets {
		os.Remove(s)
	}
}
