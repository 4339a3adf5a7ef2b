// Package jail runs a program confined the way Firecracker's jailer runs
// Firecracker: in cgroups with resource limits, in a private mount
// namespace whose root holds only the files the program needs, as an
// unprivileged user with no capabilities and no_new_privs.
//
// The driver (as root) prepares a Spec and starts the current executable
// under the name Argv0 (see Command) in fresh mount and network
// namespaces. The package's init function recognises that name, so every
// binary that links a driver using this package (the zeitwork binary and
// its test binaries alike) can act as the launcher without a subcommand of
// its own. The launcher joins the cgroups, builds the root, drops its
// privileges and execs the program in place: the program keeps the
// launcher's pid, and has run no code of its own before it is confined.
package jail

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Argv0 is the name under which the current executable acts as launcher.
const Argv0 = "zeitwork-jail"

// Spec describes one confined program.
type Spec struct {
	// UID and GID the program runs as (never 0); it has no other groups.
	UID, GID int
	// Cgroups are the cgroup directories to join (one per v1 hierarchy, or
	// one on cgroup v2), created and limited by the caller (see Cgroups).
	Cgroups []string
	// Root is an existing empty directory the new root is mounted on.
	Root string
	// Binds are the host files and directories visible in the new root,
	// at the same paths, so the program's arguments need no rewriting.
	Binds []Bind
	// NoHugePages keeps the program's memory off transparent huge pages
	// (PR_SET_THP_DISABLE, which exec keeps), even where it asks for them
	// (QEMU does): it then holds only the 4 KiB pages it touched instead
	// of every 2 MiB page around them.
	NoHugePages bool `json:",omitempty"`
	// Path, Args and Env are the program to exec.
	Path string
	Args []string
	Env  []string
}

// Bind is one path of the host made visible in the jail.
type Bind struct {
	Path string
	// Writable leaves the bind mount writable; by default it is read-only.
	Writable bool `json:",omitempty"`
	// LinkTo, when set, makes Path a symlink to LinkTo instead of a bind
	// mount (the /lib -> usr/lib links of a merged-/usr system).
	LinkTo string `json:",omitempty"`
	// Device makes Path a new device node of the same kind as the host's,
	// owned by the jail's user (as Firecracker's jailer does for
	// /dev/kvm): the host's node may be root's alone.
	Device bool `json:",omitempty"`
}

// Command returns the launcher for s: the current executable, run as
// Argv0 in new mount and network namespaces. The network namespace is
// empty: the program gets its network devices as inherited descriptors.
// The caller sets Stdout, Stderr, ExtraFiles and may add to SysProcAttr.
func Command(s *Spec) (*exec.Cmd, error) {
	if s.UID <= 0 || s.GID <= 0 {
		return nil, fmt.Errorf("jail: uid and gid must be non-zero (got %d:%d)", s.UID, s.GID)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{Argv0, string(b)},
		Env:  []string{},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET,
		},
	}
	return cmd, nil
}

func init() {
	if len(os.Args) == 2 && os.Args[0] == Argv0 {
		os.Exit(launch(os.Args[1]))
	}
}

// launch runs in the launcher process: it confines itself and execs the
// program, or reports why not on stderr (the caller's log) and fails.
func launch(arg string) int {
	// Capabilities, no_new_privs and the bounding set are per thread; the
	// thread that sets them must be the one that execs.
	runtime.LockOSThread()
	var s Spec
	if err := json.Unmarshal([]byte(arg), &s); err != nil {
		fmt.Fprintf(os.Stderr, "jail: decode spec: %v\n", err)
		return 1
	}
	if err := confine(&s); err != nil {
		fmt.Fprintf(os.Stderr, "jail: %v\n", err)
		return 1
	}
	err := syscall.Exec(s.Path, s.Args, s.Env)
	fmt.Fprintf(os.Stderr, "jail: exec %s: %v\n", s.Path, err)
	return 1
}

// confine applies everything but the exec, in an order that needs each
// privilege before it is dropped.
func confine(s *Spec) error {
	if err := joinCgroups(s.Cgroups); err != nil {
		return err
	}
	if s.NoHugePages {
		if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("disable huge pages: %w", err)
		}
	}
	last, err := readLastCap()
	if err != nil {
		return err
	}
	if err := enterRoot(s.Root, s.Binds, s.UID, s.GID); err != nil {
		return err
	}
	return dropPrivileges(s.UID, s.GID, last)
}
