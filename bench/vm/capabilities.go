package main

import "context"

// capability is a measurement the cold-boot deploy lacks, in a file of
// its own whose init calls register (wake.go, templates.go). Each measure
// runs once per round, interleaved with the deploys, and returns
// milliseconds. The "restore" row is filled by the templated deploys
// themselves (templates.go).
type capability struct {
	// name is the report row's key: "wake" (request to a scaled-to-zero
	// deployment to its first response, cold boot) or "wake-restore" (the
	// same on the platform with templates on).
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
