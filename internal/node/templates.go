package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// templates keeps the node's VM templates under <StateDir>/templates/<key>,
// one per kernel, initramfs, VMM build and instance shape (the driver's
// TemplateKey hashes them). A template is built in the background: at agent
// start for the default shape, and when an instance of a shape without one
// starts (that instance boots). Each is built once however many instances
// ask, and one that fails to restore is removed and built again once the
// instance that booted instead is healthy.
type templates struct {
	dir  string
	snap vmm.Snapshotter
	log  *slog.Logger
	// ctx is the agent's: builds stop with it.
	ctx context.Context

	mu       sync.Mutex
	building map[string]bool // shapes being built
	inUse    map[string]int  // template dirs being restored from
	wg       sync.WaitGroup
	// changed is closed (and replaced) whenever a build ends, for idle.
	changed chan struct{}
}

// defaultShape is the shape of an instance that asks for nothing (see
// api.ProjectSettings): its template is built at agent start.
const defaultMemoryMiB, defaultVCPUs = 256, 1

func newTemplates(ctx context.Context, stateDir string, drv vmm.Driver, log *slog.Logger) *templates {
	snap, ok := drv.(vmm.Snapshotter)
	if !ok {
		return nil
	}
	dir := filepath.Join(stateDir, "templates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Warn("no vm templates", "err", err)
		return nil
	}
	removePartial(dir, log)
	return &templates{dir: dir, snap: snap, log: log, ctx: ctx, building: map[string]bool{}, inUse: map[string]int{},
		changed: make(chan struct{})}
}

// removePartial removes what an agent that died mid-build left.
func removePartial(dir string, log *slog.Logger) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".partial") {
			log.Info("removing a partly built vm template", "template", e.Name())
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// shapeOf is the part of spec a template depends on.
func shapeOf(spec vmm.Spec) vmm.Spec {
	return vmm.Spec{Kernel: spec.Kernel, Initrd: spec.Initrd, MemoryMiB: spec.MemoryMiB, VCPUs: spec.VCPUs, KernelArgs: spec.KernelArgs}
}

// lookup returns the directory of spec's template, or "" when there is
// none yet; then it has one built for the next instance.
func (t *templates) lookup(ctx context.Context, spec vmm.Spec) string {
	key, err := t.snap.TemplateKey(ctx, spec)
	if err == nil {
		dir := filepath.Join(t.dir, key)
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	t.prepare(spec)
	return ""
}

// prepare builds spec's template in the background unless it exists or is
// being built.
func (t *templates) prepare(spec vmm.Spec) {
	shape := shapeOf(spec)
	id := fmt.Sprint(shape)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.building[id] || t.ctx.Err() != nil {
		return
	}
	t.building[id] = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() {
			t.mu.Lock()
			delete(t.building, id)
			close(t.changed)
			t.changed = make(chan struct{})
			t.mu.Unlock()
		}()
		t.build(shape)
		t.collect()
	}()
}

// build makes shape's template unless it exists, and records its shape
// (see collect).
func (t *templates) build(shape vmm.Spec) {
	log := t.log.With("memory_mib", shape.MemoryMiB, "vcpus", shape.VCPUs)
	key, err := t.snap.TemplateKey(t.ctx, shape)
	if err != nil {
		log.Warn("build vm template", "err", err)
		return
	}
	dir := filepath.Join(t.dir, key)
	if _, err := os.Stat(dir); err != nil {
		if err := t.snap.BuildTemplate(t.ctx, shape, dir); err != nil {
			log.Warn("build vm template", "template", key, "err", err)
			return
		}
	}
	if _, err := readShape(dir); err != nil {
		if err := writeShape(dir, shape); err != nil {
			log.Warn("record vm template shape", "template", key, "err", err)
		}
	}
}

// discard removes a template that failed to restore (or, from collect,
// one no longer current). The caller has it
// built again (prepare) once the instance that booted instead is up, so
// that the build does not compete with that boot: a damaged file must not
// make every later instance boot slowly.
func (t *templates) discard(dir string) {
	if r, ok := t.snap.(templateReleaser); ok {
		r.ReleaseTemplate(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.log.Warn("remove vm template", "template", filepath.Base(dir), "err", err)
	}
}

// templateReleaser is a Snapshotter that holds something of each template
// it restored from (the QEMU driver: the template's sealed memory, a
// guest's size in RAM) until told that the template is gone.
type templateReleaser interface{ ReleaseTemplate(dir string) }

// wait waits for the builds in progress (they end with the agent's context).
func (t *templates) wait() { t.wg.Wait() }

// idle waits until no template is being built, or ctx ends. Unlike wait,
// it may run while builds are still being asked for.
func (t *templates) idle(ctx context.Context) error {
	for {
		t.mu.Lock()
		busy, changed := len(t.building) > 0, t.changed
		t.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
