package examples

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/image"
)

// TestSampleImage builds the sample image, turns it into a root disk as a
// node agent would, and runs the app from the unpacked tree. It logs the
// timings of each stage.
func TestSampleImage(t *testing.T) {
	ctx := context.Background()
	layoutDir := filepath.Join(t.TempDir(), "layout")
	start := time.Now()
	digest, err := BuildSampleImage(ctx, "", layoutDir, image.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go build + image: %v", time.Since(start))
	again, err := BuildSampleImage(ctx, "", filepath.Join(t.TempDir(), "layout2"), image.ImageConfig{})
	if err != nil || again != digest {
		t.Errorf("rebuild gave %s (%v), want the same digest %s", again, err, digest)
	}

	store, err := image.NewStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	disk, err := store.RootDisk(ctx, layoutDir+":"+SampleTag, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("miss: total %v (resolve %v, pull+unpack %v, mkfs %v), %d bytes in %d entries, disk %d MiB",
		time.Since(start), disk.Timings.Resolve, disk.Timings.Unpack, disk.Timings.Build,
		disk.Timings.Stats.Bytes, disk.Timings.Stats.Entries, disk.Size>>20)
	if disk.Digest != digest || disk.Config.User != "1000:1000" || disk.Config.Entrypoint[0] != "/app" {
		t.Errorf("disk %s config %+v", disk.Digest, disk.Config)
	}
	start = time.Now()
	if hit, err := store.RootDisk(ctx, layoutDir+":"+SampleTag, nil); err != nil || !hit.Timings.CacheHit {
		t.Fatalf("second RootDisk: %v", err)
	}
	t.Logf("hit: %v", time.Since(start))
	st, err := store.CopyForVM(ctx, disk, filepath.Join(t.TempDir(), "vm.ext4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copy for VM: %s, %d bytes of data, %v", st.Method, st.Bytes, st.Duration)

	out, err := exec.Command("debugfs", "-R", "stat /app", disk.Path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Mode:  0755") {
		t.Errorf("/app on the disk: %v\n%s", err, out)
	}
}

func TestSampleAppRuns(t *testing.T) {
	ctx := context.Background()
	img, err := SampleImage(ctx, "", image.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := image.Flatten(ctx, img, root, image.Limits{}); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(root, "app")

	cmd := exec.Command(app)
	cmd.Env = []string{"PORT=0"}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`listening on \[::\]:(\d+)`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp, err := http.Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Hello from Zeitwork") {
		t.Errorf("page: %s", body)
	}

	crash := exec.Command(app, "-crash")
	outb, err := crash.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(outb), "crashing") {
		t.Errorf("-crash: %v %q", err, outb)
	}
	if info, err := os.Stat(app); err != nil || info.Size() > 20<<20 {
		t.Errorf("binary: %v", err)
	}
}
