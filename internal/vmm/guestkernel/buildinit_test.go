package guestkernel

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildInitIsStatic(t *testing.T) {
	p, err := BuildInit(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Fatal("init is dynamically linked; the initramfs has no libc")
		}
	}
}

func TestFindInitBesideExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	beside := filepath.Join(filepath.Dir(exe), InitName)
	if _, err := FindInit(); !errors.Is(err, ErrNoInit) {
		t.Fatalf("no init yet: got %v, want ErrNoInit", err)
	}
	if err := os.WriteFile(beside, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(beside)
	if got, err := FindInit(); err != nil || got != beside {
		t.Fatalf("got %q, %v; want %q", got, err, beside)
	}
}
