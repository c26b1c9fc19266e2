package state_test

import (
	"testing"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	statetest.RunKeyValueStoreTests(t, func(*testing.T) state.KeyValueStore { return state.NewMemory() })
}

func newMemory(*testing.T) state.KeyValueStore { return state.NewMemory() }

func TestWindowStoreModel(t *testing.T)  { statetest.RunWindowStoreModel(t, newMemory) }
func TestSessionStoreModel(t *testing.T) { statetest.RunSessionStoreModel(t, newMemory) }

// A new key costs the memory store (and so the pending overlay) one
// allocation: its node and links are one object for all but the rare
// nodes taller than four levels.
func TestMemoryInsertAllocations(t *testing.T) {
	const n = 1000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte{byte(i >> 8), byte(i)}
	}
	v := []byte("v")
	per := testing.AllocsPerRun(3, func() {
		s := state.NewMemory()
		for _, k := range keys {
			if err := s.Put(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}) / n
	if per > 1.05 {
		t.Fatalf("%.3f allocations per new key; want at most 1.05", per)
	}
}

// A window store's Get builds its key in a buffer it keeps: no allocation.
func TestWindowGetAllocations(t *testing.T) {
	w := state.NewWindowStore(state.NewMemory())
	k := []byte("customer-1")
	if err := w.Put(k, 5, []byte("v")); err != nil {
		t.Fatal(err)
	}
	per := testing.AllocsPerRun(100, func() {
		if v, ok, err := w.Get(k, 5); err != nil || !ok || string(v) != "v" {
			t.Fatalf("Get = %q, %v, %v", v, ok, err)
		}
	})
	if per != 0 {
		t.Fatalf("%.1f allocations per Get; want none", per)
	}
}
