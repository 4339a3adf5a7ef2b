package edge

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unroutedProject is the project label of requests that matched no route:
// unknown hosts, refusals before routing, requests before the first table.
// Project names start with a letter (api.IsProjectName), so it never
// collides with a project; a fixed label keeps hostile Host headers from
// creating series.
const unroutedProject = "_unrouted"

// projectVecs are the per-project metrics. Series are labelled by project
// only (not host or deployment) and exist only for projects in the route
// table plus unroutedProject: a project that leaves the table has its
// series deleted (Edge.apply), so their number stays bounded.
type projectVecs struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	unrouted *projectSeries
}

// projectSeries is one project's series, looked up once per table (not
// per request), so a request pays a few atomic adds.
type projectSeries struct {
	classes  [6]prometheus.Counter // [2] is 2xx...; [0] unused
	bytes    prometheus.Counter
	duration prometheus.Observer
}

func newProjectVecs() *projectVecs {
	v := &projectVecs{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_edge_project_requests_total",
			Help: "Requests by project and status class (1xx to 5xx); project \"" + unroutedProject + "\" counts requests that matched no route.",
		}, []string{"project", "class"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zeitwork_edge_project_response_bytes_total",
			Help: "Response body bytes sent to clients, by project (upgraded connections excepted).",
		}, []string{"project"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zeitwork_edge_project_request_duration_seconds",
			Help:    "Time from the request's arrival at the edge to the end of its response, by project, upgrades excepted.",
			Buckets: durationBuckets,
		}, []string{"project"}),
	}
	v.unrouted = v.series(unroutedProject)
	return v
}

func (v *projectVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.requests, v.bytes, v.duration}
}

// series creates (or finds) project's series.
func (v *projectVecs) series(project string) *projectSeries {
	s := &projectSeries{
		bytes:    v.bytes.WithLabelValues(project),
		duration: v.duration.WithLabelValues(project),
	}
	for k := 1; k < len(s.classes); k++ {
		s.classes[k] = v.requests.WithLabelValues(project, classLabel(k))
	}
	return s
}

// delete removes project's series from the scrape. A request still in
// flight for it counts into the detached series and is lost, which is
// fine for a project that is gone.
func (v *projectVecs) delete(project string) {
	v.bytes.DeleteLabelValues(project)
	v.duration.DeleteLabelValues(project)
	v.requests.DeletePartialMatch(prometheus.Labels{"project": project})
}

// observe counts one finished request for the project that served it (rt
// nil: none).
func (v *projectVecs) observe(rt *route, code int, bytes int64, d time.Duration) {
	s := v.unrouted
	if rt != nil && rt.series != nil {
		s = rt.series
	}
	if k := code / 100; k >= 1 && k <= 5 {
		s.classes[k].Inc()
	}
	if bytes > 0 {
		s.bytes.Add(float64(bytes))
	}
	if code != http.StatusSwitchingProtocols {
		s.duration.Observe(d.Seconds())
	}
}

func classLabel(k int) string { return string(rune('0'+k)) + "xx" }
