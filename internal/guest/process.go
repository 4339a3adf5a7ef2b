package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// defaultPath is what container runtimes use when the image sets no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// appEnv completes the app's environment: PATH and HOME are added when the
// image does not set them, like Docker does, and HOSTNAME is set.
func appEnv(env []string, home, hostname string) []string {
	out := append([]string(nil), env...)
	has := func(k string) bool {
		for _, kv := range env {
			if strings.HasPrefix(kv, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		out = append(out, "PATH="+defaultPath)
	}
	if !has("HOME") {
		out = append(out, "HOME="+home)
	}
	if !has("HOSTNAME") && hostname != "" {
		out = append(out, "HOSTNAME="+hostname)
	}
	return out
}

// envValue returns the value of key in env (the last one wins, as in execve
// users such as the shell).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// lookPath finds the program to exec: a name with a slash is used as it is
// (relative to dir when relative), others are searched in the app's PATH.
// stat is os.Stat in the guest; tests pass a fake. Errors read like
// "exec /app: no such file or directory".
func lookPath(argv0, pathEnv, dir string, stat func(string) (os.FileInfo, error)) (string, error) {
	if argv0 == "" {
		return "", errors.New("exec: empty command (the image has no entrypoint or cmd)")
	}
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p, stat); err != nil {
			return "", fmt.Errorf("exec %s: %w", argv0, err)
		}
		return p, nil
	}
	var firstErr error
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, argv0)
		err := checkExecutable(p, stat)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, syscall.ENOENT) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("exec %s: %w", argv0, firstErr)
	}
	return "", fmt.Errorf("exec %s: executable file not found in $PATH", argv0)
}

func checkExecutable(p string, stat func(string) (os.FileInfo, error)) error {
	st, err := stat(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	if st.IsDir() {
		return syscall.EISDIR
	}
	if st.Mode()&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}

// signalByName maps the control channel's signal names ("TERM",
// "SIGQUIT", "3": an image's STOPSIGNAL is passed on as it is) to signals.
func signalByName(name string) (syscall.Signal, bool) {
	return channel.ParseSignal(name)
}

// exitCode turns a wait status into a shell-style exit code: 128+signal for
// a killed process.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// exitMessage tells the host how the app ended: its exit code, the signal
// that killed it, and whether that was the kernel's out-of-memory killer
// (a SIGKILL while the VM's oom_kill count is above zero: the app is all
// that runs in it), which users otherwise take for a crash.
func exitMessage(ws syscall.WaitStatus, oomKills int64) *channel.Message {
	m := &channel.Message{Kind: channel.KindExit, ExitCode: exitCode(ws)}
	if ws.Signaled() {
		m.Signal = unix.SignalName(ws.Signal())
		if ws.Signal() == syscall.SIGKILL && oomKills > 0 {
			m.Reason = channel.ExitOutOfMemory
		}
	}
	return m
}

// oomKills reads how many processes the kernel's out-of-memory killer
// has killed since boot (-1 when unknown).
func oomKills() int64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return -1
	}
	return parseOOMKills(string(b))
}

func parseOOMKills(vmstat string) int64 {
	for _, l := range strings.Split(vmstat, "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
