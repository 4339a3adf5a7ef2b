package setup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
)

// A Step is one thing setup does: write or copy a file, fetch the guest
// kernel, or run commands. Commands and the kernel download run only when
// setting up the running host (Options.Root "/").
type Step struct {
	// Title says what the step does.
	Title string
	// Path is the file the step writes: Content, or a copy of CopyFrom.
	Path     string
	Mode     os.FileMode
	Content  []byte
	CopyFrom string
	// Shown is Content as printed: secrets redacted.
	Shown string
	// Kernel is the cache directory to fetch the guest kernel into.
	Kernel string
	// Run are commands run in order; ShownRun is how they are printed.
	Run      [][]string
	ShownRun []string
	// Skip says why the step has nothing to do (it is still printed).
	Skip string
}

// Print writes the steps as a dry run shows them: every command, and every
// file with its full content.
func Print(w io.Writer, steps []Step) {
	for i, s := range steps {
		fmt.Fprintf(w, "[%d] %s\n", i+1, s.Title)
		if s.Skip != "" {
			fmt.Fprintf(w, "    skipped: %s\n", s.Skip)
			continue
		}
		for _, c := range s.ShownRun {
			fmt.Fprintf(w, "    $ %s\n", c)
		}
		if s.Content != nil {
			for _, line := range strings.Split(strings.TrimSuffix(s.Shown, "\n"), "\n") {
				fmt.Fprintf(w, "    | %s\n", line)
			}
		}
	}
}

// Apply carries out the steps on the host below root, printing each.
// Under a root other than "/" it writes the files there and skips the
// commands and the kernel download.
func Apply(ctx context.Context, w io.Writer, root string, steps []Step) error {
	real := filepath.Clean(root) == "/"
	for i, s := range steps {
		fmt.Fprintf(w, "[%d] %s\n", i+1, s.Title)
		if s.Skip != "" {
			fmt.Fprintf(w, "    skipped: %s\n", s.Skip)
			continue
		}
		if err := apply(ctx, w, root, real, s); err != nil {
			return fmt.Errorf("%s: %w", s.Title, err)
		}
	}
	return nil
}

func apply(ctx context.Context, w io.Writer, root string, real bool, s Step) error {
	switch {
	case s.CopyFrom != "":
		b, err := os.ReadFile(s.CopyFrom)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(root, s.Path), b, s.Mode)
	case s.Content != nil:
		return writeFile(filepath.Join(root, s.Path), s.Content, s.Mode)
	case s.Kernel != "":
		if !real {
			fmt.Fprintf(w, "    skipped under --root\n")
			return nil
		}
		v, err := guestkernel.Fetch(ctx, s.Kernel)
		if err != nil {
			// The kernel is Debian's; Ubuntu's apt does not have it.
			return fmt.Errorf("%w (the guest kernel is Debian's cloud kernel: where apt cannot fetch it, as on Ubuntu, copy %s from a Debian host and run setup again)", err, s.Kernel)
		}
		fmt.Fprintf(w, "    kernel %s\n", v)
		return nil
	}
	for i, args := range s.Run {
		fmt.Fprintf(w, "    $ %s\n", s.ShownRun[i])
		if !real {
			fmt.Fprintf(w, "    skipped under --root\n")
			continue
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", s.ShownRun[i], err, lastLines(out.String(), 5))
		}
	}
	return nil
}

// writeFile replaces path atomically: a new file renamed over the old, so
// a running binary is replaced without "text file busy" and a crash never
// leaves half a unit.
func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".zeitwork-setup"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is masked by the umask
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
