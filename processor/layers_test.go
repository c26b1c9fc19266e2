package processor

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
)

func dumpKV(t *testing.T, kv state.KeyValueStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	it := kv.Range(nil, nil)
	for it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// layers over seeded random writes, as the pipelined runtime uses them:
// an interval's writes are frozen while the next one's go on top; reads
// see both; a commit applies the frozen writes (and its changelog turns a
// copy of the committed store into the same state); an abort drops both.
func TestLayersTwoIntervals(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 12))
	key := func() string { return string("abcdef"[rng.IntN(6)]) + string("xyz"[rng.IntN(3)]) }

	base := state.NewMemory()
	committed := map[string]string{}
	l := newLayers(base)
	current := map[string]string{}
	write := func(n int) {
		for range n {
			switch k := key(); rng.IntN(5) {
			case 0:
				if err := l.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(current, k)
			case 1:
				end := key()
				if err := l.DeleteRange([]byte(k), []byte(end)); err != nil {
					t.Fatal(err)
				}
				for m := range current {
					if m >= k && m < end {
						delete(current, m)
					}
				}
			default:
				v := k + "-" + string(rune('0'+rng.IntN(10)))
				if err := l.Put([]byte(k), []byte(v)); err != nil {
					t.Fatal(err)
				}
				current[k] = v
			}
		}
	}
	check := func(what string) {
		t.Helper()
		if got := dumpKV(t, l); !maps.Equal(got, current) {
			t.Fatalf("seed %d: %s: layers read %v, want %v", seed, what, got, current)
		}
		if got := dumpKV(t, base); !maps.Equal(got, committed) {
			t.Fatalf("seed %d: %s: committed store %v, want %v", seed, what, got, committed)
		}
	}
	for round := range 200 {
		write(1 + rng.IntN(20))
		check("before freeze")
		// The changelog of the ending interval, applied to a copy of the
		// committed store, gives the interval's state.
		log := maps.Clone(committed)
		err := l.top.Changes(func(k, v []byte, tombstone bool) error {
			if tombstone {
				delete(log, string(k))
			} else {
				log[string(k)] = string(v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(log, current) {
			t.Fatalf("seed %d: round %d: changelog gives %v, want %v", seed, round, log, current)
		}
		frozen := maps.Clone(current)
		l.freeze()
		check("after freeze")
		write(rng.IntN(20)) // the next interval, while the commit is in flight
		check("next interval")
		if rng.IntN(4) == 0 { // abort: both intervals go
			l.drop()
			current = maps.Clone(committed)
			check("after abort")
			continue
		}
		if err := state.ApplyBatch(base, l.frozen); err != nil {
			t.Fatal(err)
		}
		l.committed()
		committed = frozen
		check("after commit")
	}
}

// TestLayersDropForgetsIndexWatermark: window stores over layers share a
// read-ahead of the time index; a drop (an abort) brings back entries it
// had already expired, so the stores of the rebuilt core must find and
// expire them again instead of trusting the old read-ahead.
func TestLayersDropForgetsIndexWatermark(t *testing.T) {
	base := state.NewMemory()
	for i := int64(0); i < 10; i++ { // committed windows
		if err := state.NewWindowStore(base).Put([]byte("k"), i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	l := newLayers(base, state.WithIndex(state.WindowIndex))
	w := state.NewWindowStore(l)
	if err := w.ExpireBefore(5); err != nil { // reads ahead 5..9
		t.Fatal(err)
	}
	l.drop() // abort: windows 0..4 are back
	w = state.NewWindowStore(l)
	if err := w.ExpireBefore(3); err != nil {
		t.Fatal(err)
	}
	it := w.FetchAll(-100, 100)
	var got []int64
	for it.Next() {
		got = append(got, it.Start())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("windows after drop and expiry = %v; want %v", got, want)
	}
	if _, ok, _ := w.Get([]byte("k"), 1); ok {
		t.Fatal("window 1 survived the expiry after the drop")
	}
}
