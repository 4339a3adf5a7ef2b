package qemu

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOpenTapWaitsForHolder holds the tap with another descriptor, as a
// child forked by the agent meanwhile can for a moment, and lets go of it
// while openTap runs: openTap must wait for it instead of failing with
// EBUSY (which failed a deployment of 20 VMs at once).
func TestOpenTapWaitsForHolder(t *testing.T) {
	nsPath := testNetNS(t, "10.250.3.1/24")
	held, err := openTap(t.Context(), nsPath, "zwtap0", "")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, func() { held.Close() })
	f, err := openTap(t.Context(), nsPath, "zwtap0", "")
	if err != nil {
		t.Fatalf("open a tap let go of while waiting: %v", err)
	}
	f.Close()
}

// TestOpenTapNamesHolder: a tap that stays held fails the open with the
// process holding it in the error, so that an operator sees what to stop.
func TestOpenTapNamesHolder(t *testing.T) {
	nsPath := testNetNS(t, "10.250.4.1/24")
	held, err := openTap(t.Context(), nsPath, "zwtap0", "")
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	holder.ExtraFiles = append(holder.ExtraFiles, held)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	held.Close() // the child's copy holds the tap now
	defer holder.Wait()
	defer holder.Process.Kill()

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = openTap(ctx, nsPath, "zwtap0", "")
	if err == nil {
		t.Fatal("opened a tap another process holds")
	}
	want := "held by pid " + strconv.Itoa(holder.Process.Pid) + " (sleep)"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "device or resource busy") {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestVMOf(t *testing.T) {
	cmdline := []byte("qemu-system-x86_64\x00-chardev\x00file,id=con,path=/var/lib/zw/vms/c7b9/console.log\x00")
	if got := vmOf(cmdline, "/var/lib/zw/vms"); got != "c7b9" {
		t.Fatalf("vmOf = %q, want c7b9", got)
	}
	if got := vmOf(cmdline, "/other"); got != "" {
		t.Fatalf("vmOf with another state dir = %q", got)
	}
}
