package operator

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/zeitwork/zeitwork/internal/registry"
)

// registryHandler serves the built-in OCI registry. Users push with their
// API token; nodes pull with theirs; edges may not touch it.
func (o *Operator) registryHandler() (http.Handler, error) {
	dir := o.cfg.RegistryDir
	if dir == "" {
		dir = filepath.Join(".", "registry")
	}
	return registry.New(dir, func(r *http.Request) error {
		p, err := o.authenticate(r)
		if err != nil {
			return err
		}
		if p.kind == kindEdge {
			return fmt.Errorf("edge tokens may not use the registry: %w", registry.ErrForbidden)
		}
		if p.kind == kindNode && r.Method != http.MethodGet && r.Method != http.MethodHead {
			return fmt.Errorf("nodes may only pull: %w", registry.ErrForbidden)
		}
		return nil
	}, o.log)
}
