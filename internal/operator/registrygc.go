package operator

import (
	"context"
	"time"
)

// registryGC deletes unreferenced blobs and abandoned uploads of the
// built-in registry every RegistryGCInterval. Replicas that share a
// registry storage each collect it: deletions are idempotent, and the
// grace period keeps the blobs of a push another replica is serving.
func (o *Operator) registryGC(ctx context.Context) {
	if o.cfg.RegistryGCInterval < 0 {
		return
	}
	tick := time.NewTicker(o.cfg.RegistryGCInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := o.registry.GC(ctx, o.cfg.RegistryGCGrace, o.cfg.RegistryGCGrace)
		if err != nil && ctx.Err() == nil {
			o.log.Error("registry gc", "err", err)
			continue
		}
		if st.Blobs > 0 || st.Uploads > 0 {
			o.log.Info("registry gc", "blobs", st.Blobs, "bytes", st.Bytes, "uploads", st.Uploads)
		}
	}
}
