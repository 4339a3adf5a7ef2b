package operator

import (
	"context"
	"time"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// registryGC deletes unreferenced blobs and abandoned uploads of the
// built-in registry every RegistryGCInterval. On a storage the replicas
// share (PostgreSQL, a bucket) one replica at a time collects it, under
// registryGCLock: two at once would each list and stat every blob and
// race to delete the same ones, for no gain. A directory of the replica's
// own is collected by each replica, without the lock.
func (o *Operator) registryGC(ctx context.Context) {
	if o.cfg.RegistryGCInterval < 0 {
		return
	}
	shared := o.cfg.RegistryStorage != nil && registry.Shared(o.cfg.RegistryStorage)
	tick := time.NewTicker(o.cfg.RegistryGCInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !shared {
			o.collectRegistry(ctx)
			continue
		}
		ran, err := o.exclusively(ctx, registryGCLock, func(ctx context.Context) error {
			o.collectRegistry(ctx)
			return nil
		})
		switch {
		case err != nil && ctx.Err() == nil:
			o.log.Error("registry gc", "err", err)
		case err == nil && !ran:
			o.log.Debug("registry gc skipped: another replica is collecting the shared storage")
		}
	}
}

// collectRegistry runs one garbage collection and logs what it removed.
func (o *Operator) collectRegistry(ctx context.Context) {
	st, err := o.registry.GC(ctx, o.cfg.RegistryGCGrace, o.cfg.RegistryGCGrace)
	if err != nil && ctx.Err() == nil {
		o.log.Error("registry gc", "err", err)
		return
	}
	if st.Blobs > 0 || st.Uploads > 0 {
		o.log.Info("registry gc", "blobs", st.Blobs, "bytes", st.Bytes, "uploads", st.Uploads)
	}
}
