// Package lifecycle is a deployment's state machine: its statuses, the
// events that move it and the one table of allowed transitions. It has no
// I/O, so the table is tested on its own; the operator applies each
// transition as a compare-and-set in SQL (WHERE status = the status the
// caller saw), so that a caller holding a stale copy loses instead of
// overwriting what happened meanwhile.
//
// A deployment starts deploying (its image is resolved, then instances
// boot) and ends failed or stopped; both are final. A stopped deployment
// still drains for a while (its instances keep serving requests already
// routed to them), but draining is a time window after the stop, not a
// status.
package lifecycle

import (
	"errors"
	"fmt"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Statuses, as stored in deployments.status.
const (
	Deploying = api.StatusDeploying
	Ready     = api.StatusReady
	Failed    = api.StatusFailed
	Stopped   = api.StatusStopped
)

// Statuses lists every status.
var Statuses = []string{Deploying, Ready, Failed, Stopped}

// Event is something that happens to a deployment.
type Event string

// Events.
const (
	// Retry records why resolving the image will be tried again.
	Retry Event = "retry"
	// Resolve pins the image to a digest.
	Resolve Event = "resolve"
	// Fail gives up: bad image, failing instances or a timeout.
	Fail Event = "fail"
	// Promote marks a deployment whose instances are all healthy ready.
	Promote Event = "promote"
	// Supersede stops a deployment that became healthy after a newer one
	// already went live.
	Supersede Event = "supersede"
	// Replace stops the live deployment a newer one takes over from.
	Replace Event = "replace"
	// Stop is the user stopping a deployment.
	Stop Event = "stop"
)

// Events lists every event.
var Events = []Event{Retry, Resolve, Fail, Promote, Supersede, Replace, Stop}

// transitions is the whole life cycle: from status, on event, to status.
// A pair that is missing is not allowed.
var transitions = map[string]map[Event]string{
	Deploying: {
		Retry:     Deploying,
		Resolve:   Deploying,
		Fail:      Failed,
		Promote:   Ready,
		Supersede: Stopped,
		Stop:      Stopped,
	},
	Ready: {
		Replace: Stopped,
		Stop:    Stopped,
	},
	Failed:  {},
	Stopped: {},
}

// ErrNotAllowed is returned for an event the status does not accept.
var ErrNotAllowed = errors.New("transition not allowed")

// ErrConflict is returned when the deployment's status changed between the
// caller's read and its write: the write did not happen. Callers re-read
// and decide again (or leave it to the next reconcile pass).
var ErrConflict = errors.New("deployment changed concurrently")

// Next returns the status a deployment in status from moves to on e.
func Next(from string, e Event) (string, error) {
	to, ok := transitions[from][e]
	if !ok {
		return "", fmt.Errorf("%s a %s deployment: %w", e, from, ErrNotAllowed)
	}
	return to, nil
}

// Final reports whether nothing can happen to a deployment any more.
func Final(status string) bool { return len(transitions[status]) == 0 }
