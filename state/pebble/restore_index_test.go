package pebble_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
)

// indexedStore is a window or session store under test, with what the
// restore test needs to drive and compare it.
type indexedStore struct {
	index *state.Index
	// open makes the store over kv, as a task core does.
	open func(kv state.KeyValueStore) indexedOps
}

type indexedOps struct {
	put    func(key string, t int64, v string) error
	delete func(key string, t int64) error
	expire func(t int64) error
	all    func(from, to int64) (string, error) // FetchAll, printed
}

func windowOps(kv state.KeyValueStore) indexedOps {
	w := state.NewWindowStore(kv)
	return indexedOps{
		put:    func(k string, t int64, v string) error { return w.Put([]byte(k), t, []byte(v)) },
		delete: func(k string, t int64) error { return w.Delete([]byte(k), t) },
		expire: w.ExpireBefore,
		all: func(from, to int64) (string, error) {
			it := w.FetchAll(from, to)
			var out []string
			for it.Next() {
				out = append(out, fmt.Sprintf("%s@%d=%s", it.Key(), it.Start(), it.Value()))
			}
			return fmt.Sprint(out), it.Close()
		},
	}
}

func sessionOps(kv state.KeyValueStore) indexedOps {
	s := state.NewSessionStore(kv)
	return indexedOps{
		put:    func(k string, t int64, v string) error { return s.Put([]byte(k), t-3, t, []byte(v)) },
		delete: func(k string, t int64) error { return s.Remove([]byte(k), t-3, t) },
		expire: s.ExpireBefore,
		all: func(from, to int64) (string, error) {
			it := s.FetchAll(from, to)
			var out []string
			for it.Next() {
				out = append(out, fmt.Sprintf("%s@%d-%d=%s", it.Key(), it.Start(), it.End(), it.Value()))
			}
			return fmt.Sprint(out), it.Close()
		},
	}
}

// TestRestoredIndexedStoreMatches runs seeded random writes, expiries and
// aborts on a window (session) store through a pending overlay, commits
// to Pebble and keeps the changelog records, then restores another
// database from them: the changelog holds no index keys, the restored
// store holds the same keys (the index rebuilt) and answers FetchAll and
// ExpireBefore as the original does. A changelog written before index
// keys were left out (it carries them) restores to the same state.
func TestRestoredIndexedStoreMatches(t *testing.T) {
	for _, c := range []struct {
		name string
		s    indexedStore
	}{
		{"window", indexedStore{state.WindowIndex, windowOps}},
		{"session", indexedStore{state.SessionIndex, sessionOps}},
	} {
		t.Run(c.name, func(t *testing.T) { testRestoredIndexedStore(t, c.s) })
	}
}

func testRestoredIndexedStore(t *testing.T, s indexedStore) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 12))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s", seed, fmt.Sprintf(format, args...))
	}
	// src logs only primaries (today); legacy logs every key (before).
	src, legacy := openDB(t, t.TempDir()), openDB(t, t.TempDir())
	defer src.Close()
	defer legacy.Close()
	type side struct {
		db  *pebble.DB
		p   *state.Pending
		ops indexedOps
		log []state.Change
	}
	sides := []*side{
		{db: src, p: state.NewPending(src.Store("0_0", "w"), state.WithIndex(s.index))},
		{db: legacy, p: state.NewPending(legacy.Store("0_0", "w"))},
	}
	for _, sd := range sides {
		sd.ops = s.open(sd.p)
	}
	keys := []string{"a", "ab", "b", "c\x00"}
	low := int64(0)
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c"}: 1}}
	for round := 0; round < 80; round++ {
		for op := 0; op < 1+rng.IntN(12); op++ {
			k, tm, v := keys[rng.IntN(len(keys))], low+int64(rng.IntN(30))-3, fmt.Sprintf("r%do%d", round, op)
			r := rng.IntN(10)
			if r == 0 {
				low += int64(rng.IntN(8))
			}
			for _, sd := range sides {
				var err error
				switch {
				case r == 0:
					err = sd.ops.expire(low)
				case r < 3:
					err = sd.ops.delete(k, tm)
				default:
					err = sd.ops.put(k, tm, v)
				}
				if err != nil {
					fail("round %d: %v", round, err)
				}
			}
		}
		abort := rng.IntN(5) == 0
		for _, sd := range sides {
			if abort { // the runtime drops the overlay and rebuilds the task core
				sd.p.Reset()
				sd.ops = s.open(sd.p)
				continue
			}
			err := sd.p.Changes(func(k, v []byte, tombstone bool) error {
				c := state.Change{Key: append([]byte(nil), k...), Tombstone: tombstone}
				if !tombstone {
					c.Value = append([]byte{}, v...)
				}
				sd.log = append(sd.log, c)
				return nil
			})
			if err == nil {
				err = sd.db.Commit("0_0", map[string]state.Batch{"w": sd.p}, cp)
			}
			if err != nil {
				fail("round %d: %v", round, err)
			}
			sd.p.Reset()
		}
	}
	indexKeys := func(log []state.Change) int {
		n := 0
		for _, c := range log {
			if c.Key[0] != 'k' {
				n++
			}
		}
		return n
	}
	if n := indexKeys(sides[0].log); n != 0 {
		fail("the changelog holds %d index records of %d", n, len(sides[0].log))
	}
	if indexKeys(sides[1].log) == 0 {
		fail("the legacy changelog holds no index records: the test does not cover them")
	}
	want := dump(t, src.Store("0_0", "w"))
	if got := dump(t, legacy.Store("0_0", "w")); got != want {
		fail("the two sources differ:\n%s\n%s", got, want)
	}
	for i, sd := range sides {
		dst := openDB(t, t.TempDir())
		defer dst.Close()
		var derived []state.Change
		for from := 0; from < len(sd.log); {
			to := min(len(sd.log), from+1+rng.IntN(20))
			var err error
			if derived, err = s.index.Derive(derived[:0], sd.log[from:to]); err != nil {
				fail("derive: %v", err)
			}
			if err := dst.ApplyRestore("0_0", "w", derived, cp); err != nil {
				fail("restore: %v", err)
			}
			from = to
		}
		if got := dump(t, dst.Store("0_0", "w")); got != want {
			fail("restored store (changelog %d) holds\n%s\nwant\n%s", i, got, want)
		}
		// Expire through overlays, so the original stays as it is.
		a := s.open(state.NewPending(src.Store("0_0", "w")))
		b := s.open(state.NewPending(dst.Store("0_0", "w")))
		for _, bound := range []int64{low, low + 10, math.MaxInt64} {
			ga, err := a.all(math.MinInt64, math.MaxInt64)
			if err != nil {
				fail("%v", err)
			}
			gb, err := b.all(math.MinInt64, math.MaxInt64)
			if err != nil {
				fail("%v", err)
			}
			if ga != gb {
				fail("FetchAll before ExpireBefore(%d): restored %s, original %s", bound, gb, ga)
			}
			if err := a.expire(bound); err != nil {
				fail("%v", err)
			}
			if err := b.expire(bound); err != nil {
				fail("%v", err)
			}
		}
		if got, _ := b.all(math.MinInt64, math.MaxInt64); got != "[]" {
			fail("after expiring everything: %s", got)
		}
	}
}

// TestChangesLeaveIndexOut: a Pending made WithIndex logs neither index
// point writes nor the base's index keys a range delete hides, but still
// logs the primary keys a range delete over both hides.
func TestChangesLeaveIndexOut(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	p := state.NewPending(db.Store("0_0", "w"), state.WithIndex(state.WindowIndex))
	w := state.NewWindowStore(p)
	for i := int64(0); i < 5; i++ {
		if err := w.Put([]byte("k"), i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	changes := func() []string {
		var out []string
		if err := p.Changes(func(k, _ []byte, tomb bool) error {
			out = append(out, fmt.Sprintf("%q/%v", k, tomb))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := changes(); len(got) != 5 {
		t.Fatalf("changes after 5 puts = %v; want the 5 primary keys", got)
	}
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c"}: 1}}
	if err := db.Commit("0_0", map[string]state.Batch{"w": p}, cp); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if err := w.ExpireBefore(2); err != nil {
		t.Fatal(err)
	}
	if got := changes(); len(got) != 2 {
		t.Fatalf("changes after expiring 2 windows = %v; want 2 primary tombstones", got)
	}
	p.Reset()
	if err := p.DeleteRange(nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := changes(); len(got) != 5 {
		t.Fatalf("changes after deleting everything = %v; want 5 primary tombstones", got)
	}
}
