package jail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParentWeighsItsJails checks, on the host's real cgroups, that the
// jails' parent weighs the sum of its jails, following creates and
// removes: with one process's weight, a busy host starved every VM.
func TestParentWeighsItsJails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create cgroups")
	}
	c, err := NewCgroups(fmt.Sprintf("zeitwork-jailtest-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	file, parent, per := "cpu.shares", "", 1024
	if c.V2() {
		file, parent, per = "cpu.weight", c.parents[0], 100
	} else {
		parent = c.parents[1]
	}
	weight := func() string {
		b, err := os.ReadFile(filepath.Join(parent, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	ctx := context.Background()
	limits := func(cpus int) Limits { return Limits{MemoryBytes: 64 << 20, CPUs: cpus, Pids: 16} }
	if _, err := c.Create("a", limits(1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(ctx, "a"); c.Remove(ctx, "b") })
	if got, want := weight(), fmt.Sprint(per); got != want {
		t.Errorf("one jail of 1 CPU: parent weight %s, want %s", got, want)
	}
	if _, err := c.Create("b", limits(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := weight(), fmt.Sprint(3*per); got != want {
		t.Errorf("jails of 1 and 2 CPUs: parent weight %s, want %s", got, want)
	}
	if err := c.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, want := weight(), fmt.Sprint(2*per); got != want {
		t.Errorf("after removing the 1-CPU jail: parent weight %s, want %s", got, want)
	}
	if err := c.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.parents {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("parent %s left after the last jail: %v", p, err)
		}
	}
}
