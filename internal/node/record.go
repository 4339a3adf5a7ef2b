package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
)

// record is what the agent keeps on disk about each instance it runs, so
// that a restarted agent can adopt the VM instead of rebooting it. The
// instance's env vars and registry login are not kept: the API promises
// that decrypted values exist only in delivery (see instanceEnv).
type record struct {
	Desired  api.DesiredInstance `json:"desired"`
	Address  string              `json:"address"`
	Disk     string              `json:"disk"`
	Restarts int                 `json:"restarts"`
	// LogOffset is how far the VM's log file has been shipped.
	LogOffset int64 `json:"log_offset"`
	// ImageDigest names the cached root disk the VM was made from, held
	// against eviction while the instance lives (also after adoption).
	ImageDigest string `json:"image_digest,omitempty"`
	// StopSignal is the image's STOPSIGNAL ("": SIGTERM), kept so that an
	// adopted VM is stopped as its image asks too.
	StopSignal string `json:"stop_signal,omitempty"`
	// DirectPort is the host port the direct transport published the
	// instance on (0: none), taken again after an agent restart.
	DirectPort uint16 `json:"direct_port,omitempty"`
}

type records struct{ dir string }

func (r records) path(id string) string { return filepath.Join(r.dir, id+".json") }

func (r records) save(rec record) error {
	rec.Desired.Env, rec.Desired.RegistryAuth = nil, nil
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := r.path(rec.Desired.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save instance record: %w", err)
	}
	return os.Rename(tmp, r.path(rec.Desired.ID))
}

func (r records) remove(id string) error {
	if err := os.Remove(r.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (r records) load() (map[string]record, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, err
	}
	out := map[string]record{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil || rec.Desired.ID == "" {
			continue // a torn write from a crash: the VM is treated as unknown
		}
		rec.Desired.Env, rec.Desired.RegistryAuth = nil, nil // written by an older agent: delivered again
		out[rec.Desired.ID] = rec
	}
	return out, nil
}
