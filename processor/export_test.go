package processor

import "context"

// Abandon makes a running worker stop at its next commit, after
// producing but before ending the transaction, as a crash would.
func (a *App) Abandon() { close(a.abandon) }

// ErrAbandoned is what Run returns after Abandon.
var ErrAbandoned = errAbandoned

// AbortWhilePipelining makes the worker's next n commits that meet
// records for the next interval abort after that interval processed them.
func (a *App) AbortWhilePipelining(n int32) { a.abortPipelined.Store(n) }

// ForcedAborts is how many of those aborts have not happened yet.
func (a *App) ForcedAborts() int32 { return a.abortPipelined.Load() }

// CarryOutput is promote's step for one versioned output, connecting as
// opts say.
func CarryOutput(ctx context.Context, shadow, live, txnID string, version VersionFunc, opts ...Opt) (int64, error) {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return 0, err
	}
	return carryOutput(ctx, kopts, txnID, PromoteOutput{Shadow: shadow, Live: live, Carried: true}, version)
}
