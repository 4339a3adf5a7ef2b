package operator

import (
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// usageParams stores what a node measured of an instance's VM. The node
// is trusted with its own figures, but they are clamped to what a column
// holds so a broken agent cannot make the write fail.
func usageParams(id uuid.UUID, u *api.InstanceUsage) db.UpsertInstanceUsageParams {
	p := db.UpsertInstanceUsageParams{
		InstanceID: id, RssBytes: clampBytes(u.RSSBytes), PssBytes: clampBytes(u.PSSBytes),
		UssBytes: clampBytes(u.USSBytes), SharedBytes: clampBytes(u.SharedBytes), SampledAt: u.SampledAt,
	}
	if c := u.CPUPercent; c != nil && !math.IsNaN(*c) && !math.IsInf(*c, 0) && *c >= 0 {
		p.CpuPercent = pgtype.Float8{Float64: *c, Valid: true}
	}
	return p
}

func clampBytes(b uint64) int64 { return int64(min(b, math.MaxInt64)) }

// withUsage adds the instance's last reported usage, if any, to its JSON.
func withUsage(out api.Instance, id uuid.UUID, usage []db.InstanceUsage) api.Instance {
	for _, u := range usage {
		if u.InstanceID != id {
			continue
		}
		au := &api.InstanceUsage{
			RSSBytes: uint64(u.RssBytes), PSSBytes: uint64(u.PssBytes), USSBytes: uint64(u.UssBytes),
			SharedBytes: uint64(u.SharedBytes), SampledAt: u.SampledAt,
		}
		if u.CpuPercent.Valid {
			c := u.CpuPercent.Float64
			au.CPUPercent = &c
		}
		out.Usage = au
	}
	return out
}
