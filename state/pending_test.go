package state_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/statetest"
)

func newPending(*testing.T) state.KeyValueStore { return state.NewPending(state.NewMemory()) }

func TestPendingConformance(t *testing.T) {
	statetest.RunKeyValueStoreTests(t, newPending)
}

func TestPendingWindowStoreModel(t *testing.T)  { statetest.RunWindowStoreModel(t, newPending) }
func TestPendingSessionStoreModel(t *testing.T) { statetest.RunSessionStoreModel(t, newPending) }

func dump(t *testing.T, kv state.KeyValueStore) map[string]string {
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

func sortedString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%q=%q ", k, m[k])
	}
	return s
}

// TestPendingCommitAndAbort checks, over seeded random writes on a filled
// base, that the overlay reads like the model, that applying it as a Batch
// makes the base equal the model, that its Changes turn a changelog copy
// of the base into the model too, and that Reset leaves the base as it was.
func TestPendingCommitAndAbort(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	randKey := func() []byte {
		b := make([]byte, 1+rng.IntN(3))
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return b
	}
	base := state.NewMemory()
	changelog := map[string]string{} // what a compacted changelog holds
	for i := 0; i < 30; i++ {
		k, v := randKey(), fmt.Sprintf("base%d", i)
		base.Put(k, []byte(v))
		changelog[string(k)] = v
	}
	p := state.NewPending(base)
	for round := 0; round < 200; round++ {
		model := dump(t, base)
		before := sortedString(model)
		for op := 0; op < 1+rng.IntN(30); op++ {
			switch r := rng.IntN(10); {
			case r < 6:
				k, v := randKey(), fmt.Sprintf("r%do%d", round, op)
				p.Put(k, []byte(v))
				model[string(k)] = v
			case r < 9:
				k := randKey()
				p.Delete(k)
				delete(model, string(k))
			default:
				a, b := randKey(), randKey()
				p.DeleteRange(a, b)
				for k := range model {
					if k >= string(a) && k < string(b) {
						delete(model, k)
					}
				}
			}
		}
		if got, want := sortedString(dump(t, p)), sortedString(model); got != want {
			t.Fatalf("seed %d round %d: overlay reads\n%s\nmodel\n%s", seed, round, got, want)
		}
		if sortedString(dump(t, base)) != before {
			t.Fatalf("seed %d round %d: the overlay wrote to the base", seed, round)
		}
		if rng.IntN(4) == 0 { // abort
			p.Reset()
			if got := sortedString(dump(t, p)); got != before {
				t.Fatalf("seed %d round %d: after Reset reads\n%s\nwant base\n%s", seed, round, got, before)
			}
			continue
		}
		var lastKey []byte
		err := p.Changes(func(k, v []byte, tombstone bool) error {
			if lastKey != nil && string(k) <= string(lastKey) {
				return fmt.Errorf("changes out of order: %q after %q", k, lastKey)
			}
			lastKey = append([]byte{}, k...)
			if tombstone {
				delete(changelog, string(k))
			} else {
				changelog[string(k)] = string(v)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d round %d: %v", seed, round, err)
		}
		if err := state.ApplyBatch(base, p); err != nil {
			t.Fatal(err)
		}
		p.Reset()
		want := sortedString(model)
		if got := sortedString(dump(t, base)); got != want {
			t.Fatalf("seed %d round %d: base after commit\n%s\nmodel\n%s", seed, round, got, want)
		}
		if got := sortedString(changelog); got != want {
			t.Fatalf("seed %d round %d: changelog after commit\n%s\nmodel\n%s", seed, round, got, want)
		}
	}
}

// TestPendingCollapsesHotKey: a key written many times before a commit is
// one change.
func TestPendingCollapsesHotKey(t *testing.T) {
	p := state.NewPending(state.NewMemory())
	for i := 0; i < 1000; i++ {
		p.Put([]byte("hot"), []byte(fmt.Sprint(i)))
	}
	p.Put([]byte("cold"), []byte("x"))
	var got []string
	p.Changes(func(k, v []byte, tombstone bool) error {
		got = append(got, fmt.Sprintf("%s=%s/%v", k, v, tombstone))
		return nil
	})
	if want := "[cold=x/false hot=999/false]"; fmt.Sprint(got) != want {
		t.Fatalf("changes = %v; want %s", got, want)
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d; want 2", p.Len())
	}
}
