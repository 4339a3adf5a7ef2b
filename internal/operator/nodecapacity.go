package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// validRegion is a region's name: a DNS label, as GeoDNS and host names
// may carry it.
var validRegion = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// checkCapacity refuses capacities no machine has, so that a typo in a
// node's flags cannot make the scheduler place hundreds of VMs on it.
func checkCapacity(req api.RegisterNodeRequest) error {
	if !validRegion.MatchString(req.Region) {
		return invalid("name the region with lowercase letters, digits and dashes, e.g. eu-west", "invalid region %q", req.Region)
	}
	if req.VCPUs < 0 || req.VCPUs > 4096 || req.MemoryMiB < 0 || req.MemoryMiB > 64<<20 || req.DiskGiB < 0 || req.DiskGiB > 1<<20 {
		return invalid("give vCPUs up to 4096, memory up to 64 TiB and disk up to 1 PiB, or 0 for unknown",
			"invalid capacity: %d vCPUs, %d MiB memory, %d GiB disk", req.VCPUs, req.MemoryMiB, req.DiskGiB)
	}
	return nil
}

// setNodeCapacity records what a registering node offers.
func setNodeCapacity(ctx context.Context, q *db.Queries, id uuid.UUID, req api.RegisterNodeRequest) error {
	return q.SetNodeCapacity(ctx, db.SetNodeCapacityParams{
		ID: id, Vcpus: int32(req.VCPUs), MemoryMib: int32(req.MemoryMiB), DiskGib: int32(req.DiskGiB),
	})
}

// recordDiskSize keeps the size of the root disk a node built from an
// instance's image, which the scheduler then counts that image's
// instances at instead of InstanceDiskMiB.
func (o *Operator) recordDiskSize(ctx context.Context, instance uuid.UUID, rep api.InstanceReport) error {
	if rep.DiskMiB == 0 {
		return nil
	}
	err := o.store.RecordImageDiskSize(ctx, db.RecordImageDiskSizeParams{InstanceID: instance, DiskMib: int32(rep.DiskMiB)})
	if err != nil {
		return fmt.Errorf("record root disk size: %w", err)
	}
	return nil
}

// diskSizes returns what each deployment's root disks count at: the size
// nodes reported for its image, else InstanceDiskMiB.
func (o *Operator) diskSizes(ctx context.Context) (func(uuid.UUID) int, error) {
	rows, err := o.store.ListDeploymentDiskSizes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list root disk sizes: %w", err)
	}
	sizes := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		sizes[r.ID] = int(r.DiskMib)
	}
	return func(d uuid.UUID) int {
		if n, ok := sizes[d]; ok {
			return n
		}
		return o.cfg.InstanceDiskMiB
	}, nil
}

// regionsParam reads a project's new region list: sorted, without
// duplicates, empty for all regions. ok is false when the request leaves
// the regions as they are. Regions without nodes are accepted (nodes may
// join them later) and reported as under-served meanwhile.
func regionsParam(req api.UpdateProjectRequest) (regions []string, ok bool, err error) {
	if req.Regions == nil {
		return nil, false, nil
	}
	regions = []string{}
	for _, r := range *req.Regions {
		if r == "all" && len(*req.Regions) == 1 {
			return []string{}, true, nil
		}
		if !validRegion.MatchString(r) {
			return nil, false, invalid("list region names (zeitwork nodes list shows them), or all",
				"invalid region %q", r)
		}
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	if len(regions) > 32 {
		return nil, false, invalid("list at most 32 regions, or all", "too many regions (%d)", len(regions))
	}
	slices.Sort(regions)
	return regions, true, nil
}

// DefaultCPUOvercommit lets instances' vCPUs add up to four times a node's:
// most apps idle most of the time, as on the VMs of public clouds, while
// memory, which a VM cannot give back, is never promised twice.
const DefaultCPUOvercommit = 4

// DefaultInstanceDiskMiB is what an instance's root disk is counted at
// until a node reports the size of its image's: a node sizes each root
// disk to its image's files plus 256 MiB for the app to write
// (image.DefaultFreeSpace) and some file system overhead, which comes to
// 0.3 to 1 GiB for most apps.
const DefaultInstanceDiskMiB = 1024

// DefaultDiskReserveMiB is disk a node keeps free of root disks: for its
// image cache, VM templates, logs and the host itself.
const DefaultDiskReserveMiB = 2048

// readHeartbeat reads a heartbeat's body, which older agents leave empty,
// and checks it before anything is written.
func readHeartbeat(r *http.Request) (api.HeartbeatRequest, error) {
	var req api.HeartbeatRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, invalid("send a JSON object as documented in docs/api.md", "invalid heartbeat body: %v", err)
	}
	if req.DiskFreeMiB != nil && *req.DiskFreeMiB < 0 {
		return req, invalid("report the free disk in MiB, 0 or more", "invalid disk_free_mib %d", *req.DiskFreeMiB)
	}
	return req, nil
}

// setNodeDiskFree records the free disk a node reported with its
// heartbeat; nil (an older agent) leaves the last report.
func setNodeDiskFree(ctx context.Context, q *db.Queries, id uuid.UUID, req api.HeartbeatRequest) error {
	if req.DiskFreeMiB == nil {
		return nil
	}
	return q.SetNodeDiskFree(ctx, db.SetNodeDiskFreeParams{
		ID: id, DiskFreeMib: pgtype.Int4{Int32: int32(min(*req.DiskFreeMiB, math.MaxInt32)), Valid: true},
	})
}
