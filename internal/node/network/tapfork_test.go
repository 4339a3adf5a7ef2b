package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestCreatedTapIsFreeWhileForking creates taps while other goroutines
// start processes in fresh network namespaces, as the driver starts QEMU,
// and attaches to each new tap at once, as the driver does for QEMU. A
// child that is forked while CreateTap's own descriptor is open holds a
// copy of it until it execs, and a new network namespace makes that take
// long: the attach then fails with EBUSY (seen deploying 20 VMs at once).
func TestCreatedTapIsFreeWhileForking(t *testing.T) {
	cfg := testConfig(t)
	n, err := Setup(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown() })
	ns, err := netns.GetFromName(cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cmd := exec.Command("/bin/true")
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
				cmd.Run()
			}
		})
	}
	var busy int
	for i := range 150 {
		id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		tap, err := n.CreateTap(id, netip.Addr{})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		if err := attachTap(ns, tap.Name); errors.Is(err, unix.EBUSY) {
			busy++
		} else if err != nil {
			t.Errorf("attach %s: %v", tap.Name, err)
		}
		n.DeleteTap(id, tap.Address.Addr())
	}
	close(stop)
	wg.Wait()
	if busy > 0 {
		t.Fatalf("%d of 150 new taps were still attached to a descriptor of CreateTap's", busy)
	}
}

// attachTap attaches to the tap name in ns and lets go of it again.
func attachTap(ns netns.NsHandle, name string) error {
	return inNamespace(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	})
}
