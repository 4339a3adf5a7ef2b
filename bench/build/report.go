package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Targets of issue 6 on this machine (TCG).
const (
	targetWarmMs  = 8000 // source to live, warm layer cache
	targetBuildMs = 2000 // build stage of an unchanged-dependency rebuild
)

// targetRow is what the targets are checked against: a variant's warm
// medians.
type targetRow struct {
	title                 string
	total, outside, stage float64
}

// writeVariant writes the table of one variant's runs.
func writeVariant(w io.Writer, v variant, source string, cold, warm []sample) targetRow {
	receive, from := "`git push` until the build is queued (the commit received and re-packed as the context)", "`git push`"
	if source == sourceUpload {
		receive, from = "pack and upload the context until the build is queued", "upload start"
	}
	fmt.Fprintf(w, "### Source to live, %s\n\n", v.title)
	fmt.Fprintf(w, "Cold: the first build of a new project (empty layer cache; a base image, if any, pulled from the built-in registry). "+
		"Warm: a new version of the same project, whose dependency steps come from the layer cache "+
		"(%s steps taken from the cache per warm build, from the build log). "+
		"Each cell is the median of %d runs, with the range.\n\n", cachedRange(warm), len(warm))
	fmt.Fprintf(w, "| stage (ms) | cold | warm |\n|---|---:|---:|\n")
	rows := []struct {
		label string
		f     func(sample) float64
	}{
		{"receive: " + receive, func(s sample) float64 { return s.receive }},
		{"&nbsp;&nbsp;of which: the operator reading and checking the context (the build's `receive` timing)", func(s sample) float64 { return s.checked }},
		{"queue wait", func(s sample) float64 { return s.queue }},
		{"**build stage** (picked up to image built)", func(s sample) float64 { return s.build }},
		{"&nbsp;&nbsp;of which: unpack the context", func(s sample) float64 { return s.extract }},
		{"&nbsp;&nbsp;of which: sandbox set-up to buildah's first line (build log)", func(s sample) float64 { return s.setup }},
		{"&nbsp;&nbsp;of which: buildah bud", func(s sample) float64 { return s.bud }},
		{"push to the built-in registry", func(s sample) float64 { return s.push }},
		{"create the deployment", func(s sample) float64 { return s.deploy }},
		{"rollout: deployment created to ready", func(s sample) float64 { return s.rollout }},
		{"&nbsp;&nbsp;of which: pull and disk (resolve, unpack, root disk, disk copy)", func(s sample) float64 { return s.pull }},
		{"&nbsp;&nbsp;of which: boot (VM start to app listening)", func(s sample) float64 { return s.boot }},
		{"&nbsp;&nbsp;of which: healthy (listening to health check passed)", func(s sample) float64 { return s.healthy }},
		{"&nbsp;&nbsp;of which: scheduling, agent and status reports", func(s sample) float64 { return s.schedule }},
		{"switch: ready to the project URL answering the new version (edge)", func(s sample) float64 { return s.switchTo }},
		{"**source to live** (" + from + " to the new version through the edge)", func(s sample) float64 { return s.total }},
		{"&nbsp;&nbsp;of which outside the VM (all but boot and healthy)", func(s sample) float64 { return s.total - s.boot - s.healthy }},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.label, stat(cold, r.f), stat(warm, r.f))
	}
	load := func(s sample) float64 { return s.load }
	fmt.Fprintf(w, "| host load average (1 min) at the start; 2 cores shared with other work | %s | %s |\n",
		statf(cold, load, "%.1f"), statf(warm, load, "%.1f"))
	fmt.Fprintln(w)
	med := func(f func(sample) float64) float64 { return median(values(warm, f)) }
	return targetRow{v.title, med(func(s sample) float64 { return s.total }),
		med(func(s sample) float64 { return s.total - s.boot - s.healthy }), med(func(s sample) float64 { return s.build })}
}

// writeTargets checks the warm medians against issue 6's targets.
func writeTargets(w io.Writer, rows []targetRow) {
	fmt.Fprintf(w, "### Targets\n\nTargets on this machine (TCG): source to live under %.0f s warm; "+
		"build stage of an unchanged-dependency rebuild under %.0f s (picked up to image built; the push is its own row).\n\n",
		targetWarmMs/1000.0, targetBuildMs/1000.0)
	fmt.Fprintf(w, "| app | warm source to live | met | of which outside the VM boot | warm build stage | met |\n|---|---:|---|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.1f s | %s | %.1f s | %.2f s | %s |\n", r.title, r.total/1000, met(r.total < targetWarmMs),
			r.outside/1000, r.stage/1000, met(r.stage < targetBuildMs))
	}
	fmt.Fprintf(w, "\nFor comparison, peers report 20 to 120 s for the same path (push to live); "+
		"that is a reported figure, not measured here.\n\n")
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// stat is "median (min–max)" of f over samples.
func stat(samples []sample, f func(sample) float64) string { return statf(samples, f, "%.0f") }

// statf is stat with the number format verb.
func statf(samples []sample, f func(sample) float64, verb string) string {
	v := values(samples, f)
	if len(v) == 0 {
		return "-"
	}
	if len(v) == 1 {
		return fmt.Sprintf(verb, v[0])
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", median(v), v[0], v[len(v)-1])
}

// values are f over samples, sorted.
func values(samples []sample, f func(sample) float64) []float64 {
	var v []float64
	for _, s := range samples {
		v = append(v, f(s))
	}
	sort.Float64s(v)
	return v
}

func cachedRange(samples []sample) string {
	v := values(samples, func(s sample) float64 { return float64(s.cached) })
	if len(v) == 0 || v[0] == v[len(v)-1] {
		return fmt.Sprintf("%.0f", median(v))
	}
	return fmt.Sprintf("%.0f to %.0f", v[0], v[len(v)-1])
}

// median of sorted v; the lower middle for an even count.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[(len(v)-1)/2]
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
