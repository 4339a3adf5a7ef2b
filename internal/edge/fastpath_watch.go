package edge

import (
	"time"
)

// Noticing a client that leaves while its request waits for the app.
// net/http reads in the background on every request for it, which costs
// a goroutine, a read and two deadlines each time; the fast path only
// starts such a read for a request still waiting after fastWatchAfter.
// A client that closed then cancels the connection's context, which
// aborts the upstream exchange (context.AfterFunc in exchange): the app
// sees its request cancelled and the edge logs a 499.

// fastWatchAfter is how long a request waits before the watch starts.
const fastWatchAfter = 50 * time.Millisecond

// watch states.
const (
	watchIdle     = iota
	watchArmed    // the timer runs
	watchRunning  // the watch reads from the connection
	watchStopping // the handler is done: the watch's read is broken off
)

// armWatch starts the timer once the request body is read (the watch
// must not read the connection while the handler does).
func (fc *fastConn) armWatch() {
	fc.watchState.Store(watchArmed)
	fc.watchTimer.Reset(fastWatchAfter)
}

// watch waits for the client's next byte: a pipelined request leaves it
// buffered, a close or reset cancels the connection's context.
func (fc *fastConn) watch() {
	if !fc.watchState.CompareAndSwap(watchArmed, watchRunning) {
		return
	}
	defer func() { fc.watchDone <- struct{}{} }()
	if fc.br.Buffered() > 0 {
		return
	}
	// The head's deadline would end the watch; stopWatch's, set after
	// it changed the state, must not be undone.
	fc.conn.SetReadDeadline(time.Time{})
	if fc.watchState.Load() == watchStopping {
		return
	}
	if _, err := fc.br.Peek(1); err != nil && fc.watchState.Load() != watchStopping {
		fc.cancel()
	}
}

// stopWatch ends the watch before the handler's goroutine uses the
// connection's reader again (next request, hijack).
func (fc *fastConn) stopWatch() {
	if fc.watchState.CompareAndSwap(watchArmed, watchIdle) {
		fc.watchTimer.Stop()
		return
	}
	if fc.watchState.CompareAndSwap(watchRunning, watchStopping) {
		fc.conn.SetReadDeadline(time.Unix(1, 0))
		<-fc.watchDone
		fc.watchState.Store(watchIdle)
	}
}
