package buildah

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A project's layer cache holds files owned by the host uids its RUN steps
// ran as, so every build of the project must map the same range: with
// another range, root in a RUN step could not write the layers an earlier
// build left (runc fails to make /proc in the rootfs). Each project gets
// a range of its own for good, recorded in its storage root; ranges are
// handed out in order from a counter in the state directory. Different
// projects never share a range, so a RUN step of one owns nothing of
// another's.

const (
	rangeFile   = "uidrange"
	counterFile = "uidranges.next"
)

// projectRange returns the first host uid of project's range, allocating
// one on its first build. Callers hold the project's lock.
func (b *Builder) projectRange(store string) (int, error) {
	if i, err := readIndex(filepath.Join(store, rangeFile)); err == nil {
		return b.rangeStart(i)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	counter := filepath.Join(b.cfg.StateDir, counterFile)
	next, err := readIndex(counter)
	if errors.Is(err, fs.ErrNotExist) {
		next, err = 0, nil
	}
	if err != nil {
		return 0, err
	}
	first, err := b.rangeStart(next)
	if err != nil {
		return 0, err
	}
	if err := writeIndex(counter, next+1); err != nil {
		return 0, err
	}
	if err := writeIndex(filepath.Join(store, rangeFile), next); err != nil {
		return 0, err
	}
	return first, nil
}

// rangeStart is the first uid of range i, if it fits below 2^32-1.
func (b *Builder) rangeStart(i int) (int, error) {
	first := b.cfg.UIDBase + i*idRange
	if i < 0 || first+idRange > 1<<32-2 {
		return 0, fmt.Errorf("buildah: no uid range left for another project (range %d from %d)", i, b.cfg.UIDBase)
	}
	return first, nil
}

func readIndex(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("buildah: %s: %w", path, err)
	}
	return i, nil
}

func writeIndex(path string, i int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("buildah: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(i)+"\n"), 0o600); err != nil {
		return fmt.Errorf("buildah: %w", err)
	}
	return os.Rename(tmp, path)
}
