package pebble_test

import "github.com/weirstream/weir/state"

// newWindowPending is the overlay the runtime puts in front of a window
// store (processor/tasks.go): its time index stays out of the changelog.
func newWindowPending(base state.KeyValueStore) *state.Pending {
	return state.NewPending(base, state.WithIndex(state.WindowIndex))
}
