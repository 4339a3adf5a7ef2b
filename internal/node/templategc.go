package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// shapeFile, in a template's directory, records the shape it was built
// for, so that the agent can tell later whether the template is still
// current: its key is then no longer what the driver's TemplateKey gives
// for that shape (a new kernel, guest init or QEMU build).
const shapeFile = "zeitwork-shape.json"

func writeShape(dir string, shape vmm.Spec) error {
	b, err := json.Marshal(shape)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, shapeFile), b, 0o600)
}

func readShape(dir string) (vmm.Spec, error) {
	var s vmm.Spec
	b, err := os.ReadFile(filepath.Join(dir, shapeFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// restore restores spec's VM from the template in dir, which collect
// leaves alone meanwhile.
func (t *templates) restore(ctx context.Context, spec vmm.Spec, dir string) (*vmm.Instance, error) {
	t.mu.Lock()
	t.inUse[dir]++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.inUse[dir]--; t.inUse[dir] <= 0 {
			delete(t.inUse, dir)
		}
		t.mu.Unlock()
	}()
	return t.snap.Restore(ctx, spec, dir)
}

// collect removes the templates that are no longer current and that no
// restore is using, and says how many it removed. Each holds its guest's
// memory on disk (and, in the QEMU driver, in a sealed memfd) for nothing:
// no lookup returns a template whose key is not its shape's current one.
// A template without a shape record (built before there were records) is
// removed too; a current one is built again on its next use. Instances
// restored from a removed template keep running: once restored, a VM does
// not read its template again.
func (t *templates) collect() int {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".partial") {
			continue
		}
		dir := filepath.Join(t.dir, e.Name())
		if shape, err := readShape(dir); err == nil {
			key, err := t.snap.TemplateKey(t.ctx, shape)
			if err != nil || key == e.Name() {
				continue // current, or cannot tell: kept
			}
		}
		t.mu.Lock()
		busy := t.inUse[dir] > 0
		t.mu.Unlock()
		if busy {
			continue // collected after a later build
		}
		t.log.Info("removing a vm template that is no longer current", "template", e.Name())
		t.discard(dir)
		n++
	}
	return n
}
