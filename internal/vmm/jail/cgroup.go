package jail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// v1Controllers are the cgroup v1 hierarchies a jail joins; with cgroup
// v2 the same controllers are enabled in one hierarchy.
var v1Controllers = []string{"memory", "cpu", "pids"}

// cpuPeriod is the CFS period the CPU quota is expressed in (100 ms, the
// kernel's default).
const cpuPeriod = 100000

// Limits are the resource limits of one jailed program.
type Limits struct {
	// MemoryBytes caps memory, page cache included (reclaimed first).
	MemoryBytes int64
	// CPUs caps CPU time at this many CPUs and weighs the group by it
	// against the other jails.
	CPUs int
	// Pids caps processes and threads.
	Pids int
}

// Cgroups creates, and removes, one cgroup per jailed program under a
// parent. It supports pure cgroup v2 and cgroup v1 (including hybrid
// hosts, whose cgroup2 mount has no controllers).
type Cgroups struct {
	v2 bool
	// parents are the parent directories: one per v1 controller, or one.
	parents []string

	// mu orders creating the parents against removing them when empty.
	mu sync.Mutex
}

// NewCgroups detects the cgroup version and resolves parent. An absolute
// parent (such as "/zeitwork") is taken from each hierarchy's root. A
// relative one is placed under the calling process's own cgroup on v1,
// so jails stay inside whatever limits the agent itself runs under; on v2
// it is placed under the root, because v2 lets a cgroup with processes
// (the agent's) have no children with controllers.
func NewCgroups(parent string) (*Cgroups, error) {
	if parent == "" || strings.Contains(parent, "..") {
		return nil, fmt.Errorf("cgroups: invalid parent %q", parent)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return &Cgroups{v2: true, parents: []string{filepath.Join(cgroupRoot, parent)}}, nil
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	c := &Cgroups{}
	for _, ctl := range v1Controllers {
		base := filepath.Join(cgroupRoot, ctl)
		if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("cgroups: controller %s not mounted: %w", ctl, err)
		}
		if !filepath.IsAbs(parent) {
			base = filepath.Join(base, own[ctl])
		}
		c.parents = append(c.parents, filepath.Join(base, parent))
	}
	return c, nil
}

// V2 reports whether the host uses cgroup v2.
func (c *Cgroups) V2() bool { return c.v2 }

// Dirs returns the directories of name's cgroup, to put in Spec.Cgroups.
func (c *Cgroups) Dirs(name string) []string {
	out := make([]string, len(c.parents))
	for i, p := range c.parents {
		out[i] = filepath.Join(p, name)
	}
	return out
}

// Create makes name's cgroup with limits l and returns its directories.
// An existing cgroup of that name (left by a crash) is reused.
func (c *Cgroups) Create(name string, l Limits) ([]string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("create cgroup: invalid name %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v2 {
		if err := enableV2(c.parents[0]); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", name, err)
		}
	}
	dirs := c.Dirs(name)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", name, err)
		}
	}
	if err := c.limit(dirs, l); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", name, err)
	}
	if err := c.weighParent(); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", name, err)
	}
	return dirs, nil
}

// weighParent gives the parent the sum of its jails' CPU weights. Without
// it the parent has the default weight of one process, so on a busy host
// every VM together got the CPU share of one of its siblings (an agent's
// thread, a compiler): boots took minutes. Summed, the jails weigh what
// they would as separate processes, each by its CPU count.
func (c *Cgroups) weighParent() error {
	file, lo, hi := "cpu.shares", 2, 262144 // v1's range
	parent := c.parents[0]
	if c.v2 {
		file, lo, hi = "cpu.weight", 1, 10000
	} else {
		parent = c.parents[1] // order of v1Controllers
	}
	entries, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the last jail is gone, and the parent with it
	}
	if err != nil {
		return fmt.Errorf("weigh %s: %w", parent, err)
	}
	sum := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(parent, e.Name(), file))
		if err != nil {
			continue // removed meanwhile
		}
		if w, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			sum += w
		}
	}
	return writeFile(filepath.Join(parent, file), strconv.Itoa(min(max(sum, lo), hi)))
}

func (c *Cgroups) limit(dirs []string, l Limits) error {
	quota := strconv.Itoa(l.CPUs * cpuPeriod)
	if c.v2 {
		d := dirs[0]
		return writeAll(
			[2]string{filepath.Join(d, "memory.max"), strconv.FormatInt(l.MemoryBytes, 10)},
			[2]string{filepath.Join(d, "pids.max"), strconv.Itoa(l.Pids)},
			[2]string{filepath.Join(d, "cpu.max"), quota + " " + strconv.Itoa(cpuPeriod)},
			[2]string{filepath.Join(d, "cpu.weight"), strconv.Itoa(min(100*l.CPUs, 10000))},
		)
	}
	mem, cpu, pids := dirs[0], dirs[1], dirs[2] // order of v1Controllers
	return writeAll(
		[2]string{filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(l.MemoryBytes, 10)},
		[2]string{filepath.Join(pids, "pids.max"), strconv.Itoa(l.Pids)},
		[2]string{filepath.Join(cpu, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriod)},
		[2]string{filepath.Join(cpu, "cpu.cfs_quota_us"), quota},
		[2]string{filepath.Join(cpu, "cpu.shares"), strconv.Itoa(1024 * l.CPUs)},
	)
}

// enableV2 creates parent and turns on the controllers for the cgroups
// below it, in every ancestor from the root down.
func enableV2(parent string) error {
	rel, err := filepath.Rel(cgroupRoot, parent)
	if err != nil {
		return err
	}
	dir := cgroupRoot
	for _, part := range strings.Split(rel, "/") {
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+memory +cpu +pids"); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+memory +cpu +pids")
}

// Remove deletes name's cgroup once its processes are gone (a cgroup
// whose last process has just exited can stay busy for a moment), and
// the parent if no other cgroup is left in it.
func (c *Cgroups) Remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.Dirs(name) {
		if err := rmdirWhenEmpty(ctx, d); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", name, err)
		}
	}
	for _, p := range c.parents {
		unix.Rmdir(p) // fails while other jails run: fine
	}
	if err := c.weighParent(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", name, err)
	}
	return nil
}

func rmdirWhenEmpty(ctx context.Context, dir string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still has processes: %w", dir, err)
		case <-t.C:
		}
	}
}

// joinCgroups moves the calling process into dirs. It runs in the
// launcher, before the program it execs allocates anything.
func joinCgroups(dirs []string) error {
	pid := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), pid); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

// ownCgroups maps each v1 controller to the calling process's cgroup in
// it, from /proc/self/cgroup ("4:memory:/a/b", "1:cpu,cpuacct:/").
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			out[ctl] = parts[2]
		}
	}
	return out, s.Err()
}

func writeAll(files ...[2]string) error {
	for _, f := range files {
		if err := writeFile(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
