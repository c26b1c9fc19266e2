// Package state defines the stores that stateful operations keep their
// data in, and the layers shared by every backend.
//
// Backends implement only KeyValueStore: an ordered map of bytes. Window
// and session stores are layered on top of it in this package, so the
// Pebble backend and the in-memory one used by the test driver give the
// same results by construction.
package state

import "errors"

// ErrClosed is returned by any operation on a closed store.
var ErrClosed = errors.New("state: store closed")

// KeyValueStore is an ordered map from bytes to bytes.
//
// Ownership: slices passed to Put may be retained by the store, so the
// caller must not modify them afterwards. Slices returned by Get and by an
// Iterator are valid only until the next call on the store or iterator;
// copy them to keep them.
type KeyValueStore interface {
	// Get returns the value for key and whether it exists.
	Get(key []byte) (value []byte, ok bool, err error)
	// Put sets key to value. A nil value is stored as an empty value, not
	// as a delete; call Delete to remove a key.
	Put(key, value []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(key []byte) error
	// DeleteRange removes every key in [start, end).
	DeleteRange(start, end []byte) error
	// Range iterates keys in [start, end) in ascending byte order. A nil
	// start means from the first key; a nil end means to the last.
	Range(start, end []byte) Iterator
}

// Iterator walks a range of a store. It must be closed.
type Iterator interface {
	// Next advances to the next entry and reports whether there is one.
	Next() bool
	Key() []byte
	Value() []byte
	// Err returns the first error met while iterating.
	Err() error
	Close() error
}
