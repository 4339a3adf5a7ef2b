package operator

import (
	"log/slog"
	"net/http"
)

// RoutePolicy is a route of the API and its need, for the tests of
// package operator_test.
type RoutePolicy struct {
	Pattern      string
	Public       bool
	InstallAdmin bool
	Kinds        []string
	Role         string // least role in the organisation, "" if none
	Project      bool   // acts on one project (a token's project limit applies)
}

// Policies is the API's policy table.
func Policies() []RoutePolicy {
	var out []RoutePolicy
	for _, rt := range (&Operator{}).table() {
		out = append(out, RoutePolicy{Pattern: rt.pattern, Public: rt.need.public, InstallAdmin: rt.need.installAdmin,
			Kinds: rt.need.kinds, Role: rt.need.role.String(), Project: rt.need.project})
	}
	return out
}

// ServeOneRoute serves h at pattern (public) wrapped as every API route
// is, for tests of that wrapping.
func ServeOneRoute(pattern string, h http.HandlerFunc) (http.Handler, error) {
	o := &Operator{log: slog.New(slog.DiscardHandler)}
	return o.mux([]route{{pattern, public, plain(h)}})
}
