package operator

import (
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// rateLimitParams applies the request's rate limits to p's; ok is false
// when the request changes none.
func rateLimitParams(p db.Project, req api.UpdateProjectRequest) (params db.UpdateProjectRateLimitsParams, ok bool, err error) {
	lim := projectRateLimits(p)
	if req.ProjectRateLimit != nil {
		lim.Project, ok = *req.ProjectRateLimit, true
	}
	if req.ClientRateLimit != nil {
		lim.Client, ok = *req.ClientRateLimit, true
	}
	if !ok {
		return params, false, nil
	}
	hint := "give a rate in requests a second from 0 (off) to 1000000 and a burst from 1 to 10000000, e.g. --rate-limit 100/s --burst 200"
	if err := lim.Project.Check("project"); err != nil {
		return params, false, invalid(hint, "%v", err)
	}
	if err := lim.Client.Check("per-client"); err != nil {
		return params, false, invalid(hint, "%v", err)
	}
	return db.UpdateProjectRateLimitsParams{ID: p.ID,
		RateLimitRps: lim.Project.Rate, RateLimitBurst: int32(lim.Project.Burst),
		ClientRateLimitRps: lim.Client.Rate, ClientRateLimitBurst: int32(lim.Client.Burst)}, true, nil
}

// projectRateLimits is p's limits as the API and the edges see them.
func projectRateLimits(p db.Project) api.RateLimits {
	return api.RateLimits{
		Project: api.RateLimit{Rate: p.RateLimitRps, Burst: int(p.RateLimitBurst)},
		Client:  api.RateLimit{Rate: p.ClientRateLimitRps, Burst: int(p.ClientRateLimitBurst)},
	}
}

// rateLimitsOrNil is projectRateLimits, nil when no limit is set.
func rateLimitsOrNil(p db.Project) *api.RateLimits {
	if lim := projectRateLimits(p); lim.On() {
		return &lim
	}
	return nil
}
