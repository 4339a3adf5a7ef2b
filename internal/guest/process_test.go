package guest

import (
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type fakeInfo struct {
	mode fs.FileMode
}

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }

func fakeStat(files map[string]fs.FileMode) func(string) (os.FileInfo, error) {
	return func(p string) (os.FileInfo, error) {
		m, ok := files[p]
		if !ok {
			return nil, &fs.PathError{Op: "stat", Path: p, Err: syscall.ENOENT}
		}
		return fakeInfo{m}, nil
	}
}

func TestLookPath(t *testing.T) {
	stat := fakeStat(map[string]fs.FileMode{
		"/app":              0o755,
		"/data.txt":         0o644,
		"/usr/bin/python3":  0o755,
		"/usr/local/bin":    fs.ModeDir | 0o755,
		"/srv/run.sh":       0o755,
		"/bin/noexec":       0o644,
		"/usr/bin/noexec":   0o755,
		"/only/notexec/cmd": 0o600,
	})
	tests := []struct {
		name, argv0, path, dir, want, wantErr string
	}{
		{name: "absolute", argv0: "/app", want: "/app"},
		{name: "absolute missing", argv0: "/nope", wantErr: "exec /nope: no such file or directory"},
		{name: "absolute not executable", argv0: "/data.txt", wantErr: "exec /data.txt: permission denied"},
		{name: "directory", argv0: "/usr/local/bin", wantErr: "exec /usr/local/bin: is a directory"},
		{name: "relative to workdir", argv0: "./run.sh", dir: "/srv", want: "/srv/run.sh"},
		{name: "in PATH", argv0: "python3", path: "/usr/local/bin:/usr/bin", want: "/usr/bin/python3"},
		{name: "skips non-executable in PATH", argv0: "noexec", path: "/bin:/usr/bin", want: "/usr/bin/noexec"},
		{name: "not in PATH", argv0: "ruby", path: "/usr/bin", wantErr: "exec ruby: executable file not found in $PATH"},
		{name: "only non-executable", argv0: "cmd", path: "/only/notexec", wantErr: "exec cmd: permission denied"},
		{name: "empty", argv0: "", wantErr: "exec: empty command (the image has no entrypoint or cmd)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.argv0, tt.path, tt.dir, stat)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAppEnv(t *testing.T) {
	got := appEnv([]string{"PORT=8080", "A=b=c"}, "/home/app", "vm1")
	want := []string{"PORT=8080", "A=b=c", "PATH=" + defaultPath, "HOME=/home/app", "HOSTNAME=vm1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	kept := appEnv([]string{"PATH=/x", "HOME=/h", "HOSTNAME=h"}, "/ignored", "vm1")
	if !slices.Equal(kept, []string{"PATH=/x", "HOME=/h", "HOSTNAME=h"}) {
		t.Errorf("image values overridden: %q", kept)
	}
	if v := envValue([]string{"PATH=/a", "PATHX=/b", "PATH=/c"}, "PATH"); v != "/c" {
		t.Errorf("envValue = %q, want the last PATH", v)
	}
}

func TestSignalByName(t *testing.T) {
	for name, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL, "int": syscall.SIGINT} {
		if got, ok := signalByName(name); !ok || got != want {
			t.Errorf("%s: got %v %v", name, got, ok)
		}
	}
	if _, ok := signalByName("BOGUS"); ok {
		t.Error("BOGUS accepted")
	}
}

func TestExitCode(t *testing.T) {
	// Wait statuses as the kernel encodes them.
	if got := exitCode(syscall.WaitStatus(7 << 8)); got != 7 {
		t.Errorf("exit 7: got %d", got)
	}
	if got := exitCode(syscall.WaitStatus(syscall.SIGTERM)); got != 128+15 {
		t.Errorf("killed by TERM: got %d", got)
	}
}

func TestParseOrder(t *testing.T) {
	got, err := parseOrder("virtio_ring.ko\n\n# c\nvirtio.ko\n")
	if err != nil || !slices.Equal(got, []string{"virtio_ring.ko", "virtio.ko"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{"../x.ko", "a/b.ko", ".."} {
		if _, err := parseOrder(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestUptimeMS: the stage stamps and the listening message's uptime are
// on the clock of /proc/uptime.
func TestUptimeMS(t *testing.T) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	f, _, _ := strings.Cut(string(b), " ")
	secs, err := strconv.ParseFloat(f, 64)
	if err != nil {
		t.Fatal(err)
	}
	if d := uptimeMS() - int64(secs*1000); d < 0 || d > 1000 {
		t.Errorf("uptimeMS is %d ms from /proc/uptime", d)
	}
}

func TestFindPorts(t *testing.T) {
	sys := t.TempDir()
	for dev, name := range map[string]string{"vport1p1": "zeitwork.ctl\n", "vport1p2": "zeitwork.log\n", "vport1p3": ""} {
		d := sys + "/class/virtio-ports/" + dev
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d+"/name", []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findPorts(sys, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["zeitwork.ctl"] != "/dev/vport1p1" || got["zeitwork.log"] != "/dev/vport1p2" {
		t.Errorf("got %v", got)
	}
}

func TestResolvConf(t *testing.T) {
	if got := resolvConf([]string{"10.0.0.1", "1.1.1.1"}); got != "nameserver 10.0.0.1\nnameserver 1.1.1.1\n" {
		t.Errorf("got %q", got)
	}
}

func TestExitMessage(t *testing.T) {
	killed := syscall.WaitStatus(syscall.SIGKILL)
	if m := exitMessage(killed, 1); m.ExitCode != 137 || m.Signal != "SIGKILL" || m.Reason != "out of memory" {
		t.Errorf("SIGKILL after an OOM kill: %+v", m)
	}
	if m := exitMessage(killed, 0); m.Reason != "" || m.Signal != "SIGKILL" {
		t.Errorf("SIGKILL without an OOM kill: %+v", m)
	}
	if m := exitMessage(syscall.WaitStatus(3<<8), 5); m.ExitCode != 3 || m.Signal != "" || m.Reason != "" {
		t.Errorf("exit 3: %+v", m)
	}
	if n := parseOOMKills("pgfault 10\noom_kill 2\nfoo 1\n"); n != 2 {
		t.Errorf("parseOOMKills = %d, want 2", n)
	}
	if n := parseOOMKills("pgfault 10\n"); n != -1 {
		t.Errorf("parseOOMKills without the counter = %d, want -1", n)
	}
}
