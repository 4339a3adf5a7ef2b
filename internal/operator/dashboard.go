package operator

import (
	"net/http"
	"strings"

	"github.com/zeitwork/zeitwork/internal/web"
)

// serveRoot answers every path no other route has: the dashboard (package
// web) for browsers' GETs outside /v1 and /v2, and the API's JSON 404 for
// everything else, so that a mistyped endpoint never gets HTML.
func (o *Operator) serveRoot(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	api := p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/v2" || strings.HasPrefix(p, "/v2/")
	if api || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		o.noSuchEndpoint(w, r)
		return
	}
	o.dashboard.ServeHTTP(w, r)
}

// newDashboard serves the dashboard embedded in the binary.
func newDashboard() *web.Handler { return web.NewHandler(web.Dist()) }
