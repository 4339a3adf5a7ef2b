package guest

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// explainExec adds why the kernel refused to run a program that exists:
// execve answers ENOENT when a script's interpreter or a binary's dynamic
// loader is missing, and ENOEXEC for a binary of another architecture or a
// script without a #! line. "no such file or directory" for a file that is
// plainly there is the most puzzling error a new image gives. root is
// where the image's files are ("/" in the guest).
func explainExec(root, path string, err error) string {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return explainMissingInterpreter(root, path)
	case errors.Is(err, syscall.ENOEXEC):
		return explainFormat(root, path)
	}
	return ""
}

func explainMissingInterpreter(root, path string) string {
	head := readHead(filepath.Join(root, path), 512)
	if interp, ok := shebang(head); ok {
		if strings.HasSuffix(interp, "\r") {
			return fmt.Sprintf("the script's #! line ends in a carriage return (%q): save it with Unix line endings (LF)", interp)
		}
		if !exists(root, interp) {
			return fmt.Sprintf("the script's interpreter %s (its #! line) is not in the image", interp)
		}
		return ""
	}
	f, err := elf.Open(filepath.Join(root, path))
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return ""
		}
		loader := string(bytes.TrimRight(b, "\x00"))
		if !exists(root, loader) {
			return fmt.Sprintf("it is dynamically linked and its loader %s is not in the image: "+
				"link it statically (Go: CGO_ENABLED=0) or run it on a base image with the C library it was built against", loader)
		}
	}
	return ""
}

func explainFormat(root, path string) string {
	f, err := elf.Open(filepath.Join(root, path))
	if err != nil {
		return "it is neither a Linux binary nor a script starting with #!"
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Sprintf("it is built for %s; Zeitwork runs linux/amd64", strings.TrimPrefix(f.Machine.String(), "EM_"))
	}
	return ""
}

// shebang returns the interpreter a script's first line names.
func shebang(head []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(head, []byte("#!"))
	if !ok {
		return "", false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	fields := strings.Fields(strings.TrimLeft(string(line), " \t"))
	if len(fields) == 0 {
		return "", false
	}
	// A carriage return is part of the name as the kernel reads it.
	interp := strings.TrimLeft(string(line), " \t")
	if i := strings.IndexAny(interp, " \t"); i >= 0 {
		interp = interp[:i]
	}
	return interp, true
}

func readHead(path string, n int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, n)
	m, _ := f.Read(b)
	return b[:m]
}

func exists(root, path string) bool {
	_, err := os.Stat(filepath.Join(root, path))
	return err == nil
}
