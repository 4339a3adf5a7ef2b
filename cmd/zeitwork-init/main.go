// Command zeitwork-init is PID 1 of every Zeitwork microVM: the /init of the
// initramfs. Build it static (CGO_ENABLED=0); see package guest.
package main

import (
	"fmt"
	"os"

	"github.com/zeitwork/zeitwork/internal/guest"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "zeitwork-init: must run as PID 1 inside a Zeitwork microVM")
		os.Exit(2)
	}
	guest.Main()
}
