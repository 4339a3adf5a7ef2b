// Package api holds the JSON types of the operator's REST API under /v1,
// shared by the operator, the CLI, node agents and edges.
package api
