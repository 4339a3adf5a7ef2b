package node

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Capacity is what a node offers instances. The scheduler places no more
// instances on it than fit (docs/operations.md, "Regions and capacity").
type Capacity struct {
	VCPUs     int
	MemoryMiB int
	DiskGiB   int
}

// hostReserveMiB is memory left to the host (agent, QEMU overhead, page
// cache) when the capacity is detected.
const hostReserveMiB = 512

// DetectCapacity reads the host's CPUs, memory (less a reserve for the
// host itself) and the size of the file system that holds stateDir. A
// value it cannot read is 0, which the scheduler treats as unknown.
func DetectCapacity(stateDir string) Capacity {
	c := Capacity{VCPUs: runtime.NumCPU()}
	if mem := memTotalMiB(); mem > 2*hostReserveMiB {
		c.MemoryMiB = mem - hostReserveMiB
	} else {
		c.MemoryMiB = mem
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(stateDir, &st); err == nil {
		c.DiskGiB = int(st.Blocks * uint64(st.Bsize) >> 30)
	}
	return c
}

// memTotalMiB is MemTotal of /proc/meminfo, or 0.
func memTotalMiB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, _ := strconv.Atoi(fields[1])
			return kib / 1024
		}
	}
	return 0
}

// withDefaults fills what the operator of the node left 0 from the host.
func (c Capacity) withDefaults(stateDir string) Capacity {
	if c.VCPUs > 0 && c.MemoryMiB > 0 && c.DiskGiB > 0 {
		return c
	}
	d := DetectCapacity(stateDir)
	if c.VCPUs == 0 {
		c.VCPUs = d.VCPUs
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = d.MemoryMiB
	}
	if c.DiskGiB == 0 {
		c.DiskGiB = d.DiskGiB
	}
	return c
}

// heartbeatRequest reports the free space of the file system that holds
// stateDir, where the node keeps VM disks, so that the scheduler places no
// root disk that would not fit. Free is what an unprivileged writer may
// use (Bavail): QEMU and the agent's copies need no root reserve.
func heartbeatRequest(stateDir string) api.HeartbeatRequest {
	var st syscall.Statfs_t
	if err := syscall.Statfs(stateDir, &st); err != nil {
		return api.HeartbeatRequest{}
	}
	free := int(st.Bavail * uint64(st.Bsize) >> 20)
	return api.HeartbeatRequest{DiskFreeMiB: &free}
}
