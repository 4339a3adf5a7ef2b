package api

import "time"

// EdgeLogLine is one edge access log line of a routed project's request:
// Text is the JSON line the edge writes (internal/edge/README.md).
type EdgeLogLine struct {
	// Project is set by an edge shipping lines; lines read back are all of
	// the project asked for.
	Project string    `json:"project,omitempty"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

// EdgeLogBatch is what an edge ships to POST /v1/edge/logs.
type EdgeLogBatch struct {
	Lines []EdgeLogLine `json:"lines"`
}
