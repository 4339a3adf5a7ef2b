package guest

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExplainExec: when execve refuses a program that exists, the error
// must say why: a script's missing interpreter or CRLF #! line, a binary's
// missing dynamic loader, another architecture, no #! at all.
func TestExplainExec(t *testing.T) {
	root := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/sh", []byte("#!/bin/sh\n"))
	write("bash-script", []byte("#!/bin/bash -e\necho hi\n"))
	write("crlf-script", []byte("#!/bin/sh\r\necho hi\r\n"))
	write("sh-script", []byte("#! /bin/sh\necho hi\n"))
	write("text", []byte("echo no shebang\n"))
	host, err := os.ReadFile("/bin/true") // dynamically linked on Debian
	if err != nil {
		t.Fatal(err)
	}
	write("dynamic", host)
	write("arm64", elfHeader(elf.EM_AARCH64))

	tests := []struct {
		name, path string
		err        error
		want       string
	}{
		{name: "missing interpreter", path: "/bash-script", err: syscall.ENOENT, want: "the script's interpreter /bin/bash (its #! line) is not in the image"},
		{name: "crlf", path: "/crlf-script", err: syscall.ENOENT, want: `the script's #! line ends in a carriage return ("/bin/sh\r")`},
		{name: "interpreter present", path: "/sh-script", err: syscall.ENOENT, want: ""},
		{name: "missing loader", path: "/dynamic", err: syscall.ENOENT, want: "it is dynamically linked and its loader /lib64/ld-linux-x86-64.so.2 is not in the image"},
		{name: "other architecture", path: "/arm64", err: syscall.ENOEXEC, want: "it is built for AARCH64; Zeitwork runs linux/amd64"},
		{name: "no shebang", path: "/text", err: syscall.ENOEXEC, want: "it is neither a Linux binary nor a script starting with #!"},
		{name: "other errors", path: "/text", err: syscall.EACCES, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explainExec(root, tt.path, tt.err)
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("explainExec = %q, want %q", got, tt.want)
			}
		})
	}
}

// elfHeader is a bare 64-bit little-endian ELF header for machine.
func elfHeader(machine elf.Machine) []byte {
	h := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	b := make([]byte, 64)
	binary.Encode(b, binary.LittleEndian, h)
	return b
}
