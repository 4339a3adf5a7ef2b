package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnHangup calls reload on every SIGHUP until ctx ends and logs the
// outcome: a reload that fails (the file unreadable or invalid) leaves
// the running configuration in force. It listens for the signal before
// it returns, so that a SIGHUP sent once the process serves never kills
// it (the default action).
func reloadOnHangup(ctx context.Context, log *slog.Logger, role string, reload func() error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := reload(); err != nil {
					log.Error(role+": reload failed; the running configuration stays in force", "err", err)
				} else {
					log.Info(role + ": configuration reloaded")
				}
			}
		}
	}()
}
