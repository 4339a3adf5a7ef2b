package registry

import (
	"context"
	"fmt"
)

// DeleteRepository removes a repository and every repository under it
// ("<name>/..."): their tags and links. Blobs that no other repository
// uses become unreferenced and GC collects them after its grace.
func (g *Registry) DeleteRepository(name string) error {
	if !reName(name) {
		return fmt.Errorf("delete repository %q: invalid name", name)
	}
	g.gcMu.Lock()
	defer g.gcMu.Unlock()
	if err := g.store.DeletePrefix(context.Background(), repoKey(name)); err != nil {
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	return nil
}
