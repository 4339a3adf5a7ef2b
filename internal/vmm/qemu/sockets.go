package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// maxSocketPath is the longest unix socket name Linux accepts (sun_path is
// 108 bytes with its terminating NUL).
const maxSocketPath = 107

// longestSocketSuffix is what a VM's socket paths add to the state
// directory: "/" + a 36-character instance ID (or a probe directory name,
// which is shorter) + "/control.sock".
const longestSocketSuffix = 1 + 36 + len("/control.sock")

// socketLinkDir holds the short aliases of deep state directories.
var socketLinkDir = "/run/zeitwork/vms"

// socketRoot returns a path that leads to stateDir and is short enough for
// every VM's socket names: stateDir itself when it is, else a symlink to it
// under /run/zeitwork named by a hash of stateDir. The sockets themselves
// stay in each VM's state directory; only their names go through the link.
func socketRoot(stateDir string) (string, error) {
	if len(stateDir)+longestSocketSuffix <= maxSocketPath {
		return stateDir, nil
	}
	sum := sha256.Sum256([]byte(stateDir))
	link := filepath.Join(socketLinkDir, hex.EncodeToString(sum[:8]))
	if target, err := os.Readlink(link); err == nil && target == stateDir {
		return link, nil
	}
	if err := os.MkdirAll(socketLinkDir, 0o700); err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	os.Remove(link) // a stale link from an older state directory
	if err := os.Symlink(stateDir, link); err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	return link, nil
}
