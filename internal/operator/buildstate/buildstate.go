// Package buildstate is a build's state machine: its statuses, the events
// that move it and the one table of allowed transitions. Like package
// lifecycle for deployments it has no I/O; the operator applies each
// transition as a compare-and-set in SQL, so that a replica holding a stale
// copy (say, of a build cancelled meanwhile) loses instead of overwriting.
//
// A build is queued, claimed by one replica (building), pushes its image
// (pushing, for backends that report it) and ends done, failed or
// cancelled. A build whose replica stopped renewing its lease goes back to
// the queue once, then fails.
package buildstate

import (
	"errors"
	"fmt"
)

// Statuses, as stored in builds.status.
const (
	Queued    = "queued"
	Building  = "building"
	Pushing   = "pushing"
	Done      = "done"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Statuses lists every status.
var Statuses = []string{Queued, Building, Pushing, Done, Failed, Cancelled}

// Event is something that happens to a build.
type Event string

// Events.
const (
	// Claim is a replica taking a queued build (ClaimBuild in SQL).
	Claim Event = "claim"
	// Push is the builder pushing the image.
	Push Event = "push"
	// Finish records the image and the deployment made from it.
	Finish Event = "finish"
	// Fail ends the build with a reason.
	Fail Event = "fail"
	// Cancel is the user cancelling the build.
	Cancel Event = "cancel"
	// Requeue puts back a build whose replica's lease expired.
	Requeue Event = "requeue"
)

// Events lists every event.
var Events = []Event{Claim, Push, Finish, Fail, Cancel, Requeue}

// MaxAttempts is how many times a build is claimed before an expired lease
// fails it: a build that crashed its replica twice is not tried again.
const MaxAttempts = 2

var transitions = map[string]map[Event]string{
	Queued: {
		Claim:  Building,
		Fail:   Failed,
		Cancel: Cancelled,
	},
	Building: {
		Push:    Pushing,
		Finish:  Done,
		Fail:    Failed,
		Cancel:  Cancelled,
		Requeue: Queued,
	},
	Pushing: {
		Finish:  Done,
		Fail:    Failed,
		Cancel:  Cancelled,
		Requeue: Queued,
	},
	Done:      {},
	Failed:    {},
	Cancelled: {},
}

// ErrNotAllowed is returned for an event the status does not accept.
var ErrNotAllowed = errors.New("build transition not allowed")

// ErrConflict is returned when the build's status changed between the
// caller's read and its write: the write did not happen.
var ErrConflict = errors.New("build changed concurrently")

// Next returns the status a build in status from moves to on e.
func Next(from string, e Event) (string, error) {
	to, ok := transitions[from][e]
	if !ok {
		return "", fmt.Errorf("%s a %s build: %w", e, from, ErrNotAllowed)
	}
	return to, nil
}

// Final reports whether nothing can happen to a build any more.
func Final(status string) bool { return len(transitions[status]) == 0 }

// Running reports whether a replica holds the build under a lease.
func Running(status string) bool { return status == Building || status == Pushing }

// OnExpiry is the event for a build whose lease expired after attempts
// claims: requeue it unless it already had its retry.
func OnExpiry(attempts int) Event {
	if attempts < MaxAttempts {
		return Requeue
	}
	return Fail
}
