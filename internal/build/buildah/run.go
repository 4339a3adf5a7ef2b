package buildah

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const cgroupRoot = "/sys/fs/cgroup"

// tailLines is how many of the last log lines an error carries.
const tailLines = 15

// run runs buildah with args (and extra environment variables) in its
// own process group, in pull's network namespace unless it is nil, copies its output
// line by line to the build's log, and returns the last lines. When ctx
// ends, the whole group and every process in the build's cgroup (RUN
// steps, which runc starts in their own sessions) are killed.
func (j *job) run(ctx context.Context, args, env []string, pull *pullNet) ([]string, error) {
	cmd := exec.Command(j.b.cfg.Buildah, args...)
	cmd.Env = append(j.env(), env...)
	cmd.Dir = j.tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	start := cmd.Start
	if pull != nil {
		cmd.Env = append(cmd.Env, pull.env()...)
		start = func() error { return pull.start(cmd) }
	}
	if err := start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("build: start buildah: %w", err)
	}
	lines := make(chan []string, 1)
	go func() { lines <- copyLines(pr, j.req.Log) }()

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		j.kill(cmd.Process.Pid)
		err = <-done
	}
	pw.Close()
	return <-lines, err
}

// kill ends buildah's process group and the build's cgroup.
func (j *job) kill(pgid int) {
	syscall.Kill(-pgid, syscall.SIGKILL)
	j.killCgroup()
}

// killCgroup kills every process in the build's cgroup tree until none is
// left (a dying RUN step may still fork for a moment).
func (j *job) killCgroup() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, dir := range j.b.cgroups.Dirs(j.cgroup) {
			filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
						n++
					}
				}
				return nil
			})
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeRunCgroups removes the cgroups runc made for RUN steps, deepest
// first: below the build's cgroup, and in every hierarchy (runc makes the
// build's path in blkio, devices, freezer and others too, and leaves it).
// It runs once no process of the build is left.
func (j *job) removeRunCgroups() {
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", j.b.cfg.CgroupParent, j.cgroup))
	for _, dir := range dirs {
		var all []string
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if i > 0 || !j.ownHierarchy(dir) {
				syscall.Rmdir(all[i])
			}
		}
		if !j.ownHierarchy(dir) {
			syscall.Rmdir(filepath.Dir(dir)) // the parent, if no other build uses it
		}
	}
}

// ownHierarchy reports whether dir is one of the build's cgroups that
// jail.Cgroups made and removes.
func (j *job) ownHierarchy(dir string) bool {
	for _, d := range j.b.cgroups.Dirs(j.cgroup) {
		if d == dir {
			return true
		}
	}
	return false
}

// copyLines copies r to log line by line and returns the last tailLines.
func copyLines(r io.Reader, log io.Writer) []string {
	var tail []string
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		fmt.Fprintln(log, line)
		tail = append(tail, line)
		if len(tail) > tailLines {
			tail = tail[1:]
		}
	}
	io.Copy(io.Discard, r) // a line over the buffer: keep buildah unblocked
	return tail
}

// cleanup removes everything the build made, whatever happened: leftover
// containers and their mounts (after a kill), the network, the cgroup and
// the temporary directory. It runs without the build's context, which may
// have ended.
func (j *job) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if j.cgroup != "" {
		j.killCgroup()
	}
	if j.started {
		// bud's --force-rm removes its containers unless buildah was
		// killed; the project's builds run one at a time, so every
		// container in its store is this build's.
		cmd := exec.CommandContext(ctx, j.b.cfg.Buildah, append(j.global(), "rm", "--all")...)
		cmd.Env = j.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("buildah rm: %w: %s", err, strings.TrimSpace(string(out))))
		}
		j.recordSize()
	}
	if j.pull != nil {
		if err := j.pull.teardown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if j.net != nil {
		if err := j.net.teardown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if j.cgroup != "" {
		j.removeRunCgroups()
		if err := j.b.cgroups.Remove(ctx, j.cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	if j.tmp != "" {
		if err := os.RemoveAll(j.tmp); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(j.req.Log, "build cleanup: %v\n", err)
	}
}
