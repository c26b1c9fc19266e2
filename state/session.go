package state

import (
	"errors"
	"fmt"
)

// ErrInvalidSession is returned for a session whose end is before its start.
var ErrInvalidSession = errors.New("state: session end before start")

// SessionStore keeps one value per session (key, start, end), layered over
// a KeyValueStore (layout in layout.go). Entries are ordered by key, then
// end, then start, as Kafka Streams does: the sessions a new record may
// merge with all end at or after earliestEnd, so the scan skips the key's
// older sessions. Times are unix milliseconds, both ends inclusive.
//
// A SessionStore is not safe for concurrent use.
type SessionStore struct {
	kv  KeyValueStore
	low *lowWatermark // over session ends
}

// NewSessionStore layers a session store over kv: nothing but session
// stores over kv may write to it. If kv is a WatermarkHolder, the stores
// over it share what they know of its time index.
func NewSessionStore(kv KeyValueStore) *SessionStore {
	return &SessionStore{kv: kv, low: watermarkOf(kv)}
}

// Put sets the value of the session. Like KeyValueStore.Put, it may retain
// value.
func (s *SessionStore) Put(key []byte, start, end int64, value []byte) error {
	if end < start {
		return fmt.Errorf("%w: [%d, %d]", ErrInvalidSession, start, end)
	}
	if err := s.kv.Put(primaryKey(key, end, start), value); err != nil {
		return err
	}
	ik := indexKey(key, end, start)
	s.low.added(ik)
	return s.kv.Put(ik, nil)
}

// Get returns the value of the session (key, start, end).
func (s *SessionStore) Get(key []byte, start, end int64) ([]byte, bool, error) {
	return s.kv.Get(primaryKey(key, end, start))
}

// Remove deletes the session (key, start, end); a missing one is not an
// error.
func (s *SessionStore) Remove(key []byte, start, end int64) error {
	if err := s.kv.Delete(primaryKey(key, end, start)); err != nil {
		return err
	}
	ik := indexKey(key, end, start)
	s.low.removed(ik)
	return s.kv.Delete(ik)
}

// FindSessions iterates key's sessions with end >= earliestEnd and
// start <= latestStart, ordered by end, then start. For a record at time
// ts and an inactivity gap g, FindSessions(key, ts-g, ts+g) returns the
// sessions the record merges with.
func (s *SessionStore) FindSessions(key []byte, earliestEnd, latestStart int64) *SessionIterator {
	lo := primaryKey(key, earliestEnd)
	hi := PrefixEnd(primaryPrefix(key))
	return &SessionIterator{e: entryIter{
		it: s.kv.Range(lo, hi), n: 2,
		filter: func(t []int64) bool { return t[1] <= latestStart },
	}}
}

// FetchAll iterates every session with from <= end <= to, ordered by end;
// sessions with the same end come in a fixed order (by key length, key
// bytes, start).
func (s *SessionStore) FetchAll(from, to int64) *SessionIterator {
	from = s.low.clamp(from)
	lo := indexTimeBound(from)
	hi := PrefixEnd(indexTimeBound(to))
	if from > to {
		hi = lo
	}
	return &SessionIterator{e: entryIter{
		kv: s.kv, it: s.kv.Range(lo, hi), index: true, n: 1,
		reorder: sessionOrder,
	}}
}

// ExpireBefore deletes every session that ended before t. Its cost is
// proportional to the number of expired sessions: it starts where the
// last expiry stopped.
func (s *SessionStore) ExpireBefore(t int64) error {
	return expireIndex(s.kv, s.low, t, 1, sessionOrder)
}

// sessionOrder turns index times (end; start) into primary ones (end, start).
func sessionOrder(end int64, rest []int64) []int64 { return []int64{end, rest[0]} }

// SessionIterator walks sessions. Slices it returns are valid until the
// next call on it or on the store. It must be closed.
type SessionIterator struct{ e entryIter }

// Next advances to the next session and reports whether there is one.
func (i *SessionIterator) Next() bool { return i.e.Next() }

// Key is the user key of the current session.
func (i *SessionIterator) Key() []byte { return i.e.key }

// Start is the time of the current session's first record.
func (i *SessionIterator) Start() int64 { return i.e.times[1] }

// End is the time of the current session's last record.
func (i *SessionIterator) End() int64 { return i.e.times[0] }

// Value is the value of the current session.
func (i *SessionIterator) Value() []byte { return i.e.value }

// Err returns the first error met while iterating.
func (i *SessionIterator) Err() error { return i.e.Err() }

// Close releases the iterator and returns Err if it is set.
func (i *SessionIterator) Close() error { return i.e.Close() }
