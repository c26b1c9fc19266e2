package pebble_test

import "github.com/weirstream/weir/state"

// newWindowPending is the overlay the runtime puts in front of a window
// store.
func newWindowPending(base state.KeyValueStore) *state.Pending { return state.NewPending(base) }
