package operator

import (
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// httpsParams applies the request's HTTPS settings to p's; ok is false
// when the request changes none.
func httpsParams(p db.Project, req api.UpdateProjectRequest) (params db.UpdateProjectHTTPSParams, ok bool, err error) {
	params = db.UpdateProjectHTTPSParams{ID: p.ID, HstsMaxAge: p.HstsMaxAge, HttpsRedirectVersioned: p.HttpsRedirectVersioned}
	if req.HSTSMaxAge != nil {
		n := *req.HSTSMaxAge
		if n < 0 || n > api.MaxHSTSMaxAge {
			return params, false, invalid("give the HSTS max-age in seconds from 0 (off) to 63072000 (two years), e.g. --hsts 31536000",
				"invalid HSTS max-age %d", n)
		}
		params.HstsMaxAge, ok = int32(n), true
	}
	if req.HTTPSRedirectVersioned != nil {
		params.HttpsRedirectVersioned, ok = *req.HTTPSRedirectVersioned, true
	}
	return params, ok, nil
}
