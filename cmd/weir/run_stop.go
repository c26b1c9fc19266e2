package main

import (
	"context"

	"go.uber.org/zap"
)

// logStop says what a worker did as it stopped on a signal, so an
// operator reading a pod's last lines knows whether its tasks moved at
// once. App.Run finishes the commit in hand and closes the Kafka client,
// which leaves the group, except a static member's: it keeps its place
// for a restart within the session timeout.
func logStop(ctx context.Context, log *zap.Logger, runErr error, lastCommitted, static bool) {
	if runErr != nil || ctx.Err() == nil {
		return // a failure, returned and printed by main
	}
	switch {
	case lastCommitted && static:
		log.Info("stopped: committed; stayed in the group as a static member (-static): restart within -session-timeout to keep the tasks")
	case lastCommitted:
		log.Info("stopped: committed and left the group")
	case static:
		log.Warn("stopped: the last commit did not complete (the next owner reprocesses from the commit before); stayed in the group as a static member")
	default:
		log.Warn("stopped: the last commit did not complete (the next owner reprocesses from the commit before); left the group")
	}
}
