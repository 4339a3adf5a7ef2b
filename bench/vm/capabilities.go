package main

import "context"

// capability is a measurement the cold-boot path lacks. The branches that
// build templates (restore) and scale to zero (wake) plug theirs in with a
// file of their own whose init calls register; until then the report
// reads "n/a (not built)" in those rows. Each measure runs once per round,
// interleaved with the cold-boot deploys, and returns milliseconds.
type capability struct {
	// name is the report row's key: "restore" (VM start from a template
	// to app listening) or "wake" (request to a scaled-to-zero deployment
	// to its first response).
	name    string
	measure func(ctx context.Context, b *bench) (float64, error)
}

var capabilities []capability

func register(c capability) { capabilities = append(capabilities, c) }

// knownCapabilities are the rows the report always has, in order.
var knownCapabilities = []struct{ name, row, target string }{
	{"restore", "VM start from a template to healthy (host check)", "< 800 ms"},
	{"wake", "wake from zero to first response (cold boot)", "< 1500 ms"},
	{"wake-restore", "wake from zero to first response (templates on)", "< 1500 ms"},
}
