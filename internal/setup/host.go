package setup

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
)

// CheckHost refuses a host setup cannot install on: one that is not
// Debian or Ubuntu (or derived from them, by ID_LIKE in os-release), and,
// when needRoot, a caller that is not root (euid).
func CheckHost(osRelease string, euid int, needRoot bool) error {
	if needRoot && euid != 0 {
		return &Error{Msg: "zeitwork setup must run as root: it installs packages, /usr/local/bin/zeitwork and a systemd unit",
			Hint: "run it with sudo, or add --dry-run to see what it would do"}
	}
	ids, err := osIDs(osRelease)
	if err != nil {
		return &Error{Msg: fmt.Sprintf("cannot tell the operating system: %v", err),
			Hint: "zeitwork setup supports Debian 12 or later and Ubuntu 22.04 or later; elsewhere run the roles by hand (docs/operations.md, \"Several machines\")"}
	}
	if slices.Contains(ids, "debian") || slices.Contains(ids, "ubuntu") {
		return nil
	}
	return &Error{Msg: fmt.Sprintf("zeitwork setup supports Debian and Ubuntu, not %q", strings.Join(ids, " ")),
		Hint: "install on Debian 12+ or Ubuntu 22.04+, or run the roles by hand under your own service manager (docs/operations.md, \"Several machines\")"}
}

// osIDs reads ID and ID_LIKE from an os-release file.
func osIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "=")
		if !ok || (k != "ID" && k != "ID_LIKE") {
			continue
		}
		ids = append(ids, strings.Fields(strings.ToLower(strings.Trim(v, `"'`)))...)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s has no ID", path)
	}
	return ids, nil
}
