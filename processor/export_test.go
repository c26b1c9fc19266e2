package processor

// Abandon makes a running worker stop at its next commit, after
// producing but before ending the transaction, as a crash would.
func (a *App) Abandon() { close(a.abandon) }

// ErrAbandoned is what Run returns after Abandon.
var ErrAbandoned = errAbandoned
