package pebble_test

import (
	"testing"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/statetest"
)

// A cached view passes the store conformance tests (its writes go
// through and make it forget).
func TestCachedConformance(t *testing.T) {
	statetest.RunKeyValueStoreTests(t, func(t *testing.T) state.KeyValueStore {
		db := openDB(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		return db.CachedStore("0_1", "s")
	})
}

// TestCachedStoreSeesEveryWrite: a cached view of a global table answers
// from memory, and forgets as soon as the table is written through the DB
// in any way: a restore batch (the global follower), a commit, a drop, a
// write through another view.
func TestCachedStoreSeesEveryWrite(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "products"}: 1}}
	c := db.CachedStore("global", "products")
	want := func(step, k, v string) {
		t.Helper()
		if got := get(t, c, k); got != v {
			t.Fatalf("%s: %s = %q; want %q", step, k, got, v)
		}
	}
	want("empty", "p1", "<missing>")
	if err := db.ApplyRestore("global", "products", []state.Change{{Key: []byte("p1"), Value: []byte("a")}}, cp); err != nil {
		t.Fatal(err)
	}
	want("after a restore batch", "p1", "a") // the cached miss is forgotten
	if err := db.ApplyRestore("global", "products", []state.Change{{Key: []byte("p1"), Value: []byte("b")}}, cp); err != nil {
		t.Fatal(err)
	}
	want("after a second batch", "p1", "b")
	p := state.NewPending(db.Store("global", "products"))
	if err := p.Put([]byte("p1"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit("global", map[string]state.Batch{"products": p}, cp); err != nil {
		t.Fatal(err)
	}
	want("after a commit", "p1", "c")
	if err := db.Store("global", "products").Put([]byte("p1"), []byte("d")); err != nil {
		t.Fatal(err)
	}
	want("after another view's put", "p1", "d")
	if err := db.DropTask("global"); err != nil {
		t.Fatal(err)
	}
	want("after a drop", "p1", "<missing>")
	// Another task's writes leave the cache alone, and it still answers.
	if err := db.Store("0_0", "products").Put([]byte("p1"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	want("after another task's write", "p1", "<missing>")
}
