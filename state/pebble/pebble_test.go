package pebble_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/state/statetest"
)

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, pebble.Options{Logger: zap.NewNop(), CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openView returns an empty view whose neighbours (a task and a store
// whose names extend its own) hold data, to catch prefix leaks.
func openView(t *testing.T) state.KeyValueStore {
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	for _, n := range []struct{ task, store string }{{"0_10", "s"}, {"0_1", "s2"}, {"0_", "1s"}} {
		if err := db.Store(n.task, n.store).Put([]byte("a"), []byte("neighbour")); err != nil {
			t.Fatal(err)
		}
	}
	return db.Store("0_1", "s")
}

func TestConformance(t *testing.T) { statetest.RunKeyValueStoreTests(t, openView) }

func TestPendingOverPebbleConformance(t *testing.T) {
	statetest.RunKeyValueStoreTests(t, openPendingView)
}

func TestWindowStoreModel(t *testing.T)  { statetest.RunWindowStoreModel(t, openView) }
func TestSessionStoreModel(t *testing.T) { statetest.RunSessionStoreModel(t, openView) }

func identity() state.Identity {
	return state.Identity{
		ClusterID: "cluster-1", ApplicationID: "profiles",
		TopicIDs: map[string][16]byte{"profiles-counts-changelog": {1, 2, 3}},
	}
}

func get(t testing.TB, kv state.KeyValueStore, k string) string {
	t.Helper()
	v, ok, err := kv.Get([]byte(k))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<missing>"
	}
	return string(v)
}

func TestCommitLandsWithCheckpointAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	counts, views := state.NewPending(db.Store("0_3", "counts")), state.NewPending(db.Store("0_3", "views"))
	counts.Put([]byte("alice"), []byte("1"))
	counts.Put([]byte("bob"), []byte("1"))
	views.Put([]byte("p1"), []byte("x"))
	if err := db.Commit("0_3", map[string]state.Batch{"counts": counts, "views": views},
		state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "profiles-counts-changelog", Partition: 3}: 2}}); err != nil {
		t.Fatal(err)
	}
	counts.Reset()
	views.Reset()
	// Second commit: an update, a delete and a range delete.
	counts.Put([]byte("alice"), []byte("2"))
	counts.Delete([]byte("bob"))
	views.DeleteRange([]byte("p"), []byte("q"))
	if get(t, db.Store("0_3", "counts"), "alice") != "1" {
		t.Fatal("pending write reached Pebble before Commit")
	}
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "profiles-counts-changelog", Partition: 3}: 5}}
	if err := db.Commit("0_3", map[string]state.Batch{"counts": counts, "views": views}, cp); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, dir)
	defer db.Close()
	for _, c := range []struct{ store, key, want string }{
		{"counts", "alice", "2"}, {"counts", "bob", "<missing>"}, {"views", "p1", "<missing>"},
	} {
		if got := get(t, db.Store("0_3", c.store), c.key); got != c.want {
			t.Errorf("after reopen %s/%s = %q; want %q", c.store, c.key, got, c.want)
		}
	}
	got, ok, err := db.Checkpoint("0_3")
	if err != nil || !ok {
		t.Fatalf("Checkpoint = %v, %v", ok, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(cp) {
		t.Fatalf("checkpoint after reopen = %v; want %v", got, cp)
	}
}

// failingBatch fails half-way through its points.
type failingBatch struct{}

var errBoom = errors.New("boom")

func (failingBatch) RangeDeletes() []state.KeyRange {
	return []state.KeyRange{{Start: []byte("a"), End: nil}}
}

func (failingBatch) EachPoint(fn func(k, v []byte, tombstone bool) error) error {
	if err := fn([]byte("new"), []byte("v"), false); err != nil {
		return err
	}
	return errBoom
}

func TestCommitIsAllOrNothing(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	old := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c", Partition: 0}: 7}}
	if err := db.ApplyRestore("0_0", "s", []state.Change{{Key: []byte("a"), Value: []byte("1")}}, old); err != nil {
		t.Fatal(err)
	}
	good := state.NewPending(db.Store("0_0", "t"))
	good.Put([]byte("k"), []byte("v"))
	newCP := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c", Partition: 0}: 9}}
	err := db.Commit("0_0", map[string]state.Batch{"s": failingBatch{}, "t": good}, newCP)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Commit = %v; want errBoom", err)
	}
	if got := get(t, db.Store("0_0", "s"), "a"); got != "1" {
		t.Errorf("failed commit deleted a: %q", got)
	}
	if got := get(t, db.Store("0_0", "s"), "new"); got != "<missing>" {
		t.Errorf("failed commit wrote new: %q", got)
	}
	if got := get(t, db.Store("0_0", "t"), "k"); got != "<missing>" {
		t.Errorf("failed commit wrote another store: %q", got)
	}
	cp, _, _ := db.Checkpoint("0_0")
	if fmt.Sprint(cp) != fmt.Sprint(old) {
		t.Errorf("failed commit moved the checkpoint to %v", cp)
	}
}

func TestDropTask(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	cp := state.Checkpoint{Identity: identity()}
	for _, task := range []string{"0_1", "0_10", "1_1"} {
		if err := db.ApplyRestore(task, "s", []state.Change{{Key: []byte("k"), Value: []byte(task)}}, cp); err != nil {
			t.Fatal(err)
		}
	}
	if tasks, _ := db.Tasks(); fmt.Sprint(tasks) != "[0_1 0_10 1_1]" {
		t.Fatalf("Tasks = %v", tasks)
	}
	if err := db.DropTask("0_1"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, db.Store("0_1", "s"), "k"); got != "<missing>" {
		t.Errorf("dropped task still has k = %q", got)
	}
	if _, ok, _ := db.Checkpoint("0_1"); ok {
		t.Error("dropped task still has a checkpoint")
	}
	for _, task := range []string{"0_10", "1_1"} {
		if got := get(t, db.Store(task, "s"), "k"); got != task {
			t.Errorf("task %s lost its state: %q", task, got)
		}
	}
	if tasks, _ := db.Tasks(); fmt.Sprint(tasks) != "[0_10 1_1]" {
		t.Fatalf("Tasks after drop = %v", tasks)
	}
}

func TestApplyRestore(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	tp := state.TopicPartition{Topic: "profiles-counts-changelog", Partition: 0}
	recs := []state.Change{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("b"), Value: []byte("1")},
		{Key: []byte("a"), Value: []byte("2")}, // later record wins
		{Key: []byte("b"), Tombstone: true},
		{Key: []byte("e"), Value: []byte{}}, // empty is not a tombstone
	}
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{tp: 5}}
	if err := db.ApplyRestore("0_0", "counts", recs, cp); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	s := db.Store("0_0", "counts")
	if a, b, e := get(t, s, "a"), get(t, s, "b"), get(t, s, "e"); a != "2" || b != "<missing>" || e != "" {
		t.Fatalf("after restore a=%q b=%q e=%q; want 2, <missing>, empty", a, b, e)
	}
	got, _, _ := db.Checkpoint("0_0")
	if got.Offsets[tp] != 5 {
		t.Fatalf("restored checkpoint offset = %d; want 5", got.Offsets[tp])
	}
}

func TestClosed(t *testing.T) {
	db := openDB(t, t.TempDir())
	s := db.Store("0_0", "s")
	db.Close()
	if err := s.Put([]byte("k"), nil); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Put after Close = %v; want ErrClosed", err)
	}
	if _, _, err := s.Get([]byte("k")); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
	it := s.Range(nil, nil)
	if it.Next() || !errors.Is(it.Close(), state.ErrClosed) {
		t.Error("Range after Close did not report ErrClosed")
	}
	if err := db.Close(); !errors.Is(err, state.ErrClosed) {
		t.Errorf("second Close = %v; want ErrClosed", err)
	}
}

// TestPebbleLogsGoToZap: Pebble's log lines reach the zap logger, and none
// go to the standard logger (Pebble's default, which writes to stderr).
func TestPebbleLogsGoToZap(t *testing.T) {
	var std bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&std)
	defer log.SetOutput(prev)
	core, logs := observer.New(zap.DebugLevel)
	db, err := pebble.Open(t.TempDir(), pebble.Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	db.Store("0_0", "s").Put([]byte("k"), []byte("v"))
	db.Close()
	if std.Len() != 0 {
		t.Errorf("standard logger got %q", std.String())
	}
	if logs.FilterLoggerName("pebble").Len() == 0 {
		t.Error("no Pebble log line reached zap")
	}
}

func TestCheckpointIdentity(t *testing.T) {
	cp := state.Checkpoint{Identity: identity()}
	if err := cp.Check(identity()); err != nil {
		t.Fatalf("same identity: %v", err)
	}
	other := identity()
	other.TopicIDs = map[string][16]byte{"some-new-changelog": {9}}
	if err := cp.Check(other); err != nil {
		t.Fatalf("a topic unknown to the checkpoint is not foreign: %v", err)
	}
	for name, mutate := range map[string]func(*state.Identity){
		"cluster":  func(i *state.Identity) { i.ClusterID = "cluster-2" },
		"app":      func(i *state.Identity) { i.ApplicationID = "other" },
		"topic id": func(i *state.Identity) { i.TopicIDs = map[string][16]byte{"profiles-counts-changelog": {4}} },
	} {
		want := identity()
		mutate(&want)
		if err := cp.Check(want); !errors.Is(err, state.ErrForeignState) {
			t.Errorf("%s differs: Check = %v; want ErrForeignState", name, err)
		}
	}
}

func openPendingView(t *testing.T) state.KeyValueStore { return state.NewPending(openView(t)) }

func TestPendingWindowStoreModel(t *testing.T)  { statetest.RunWindowStoreModel(t, openPendingView) }
func TestPendingSessionStoreModel(t *testing.T) { statetest.RunSessionStoreModel(t, openPendingView) }

func dump(t *testing.T, kv state.KeyValueStore) string {
	t.Helper()
	var out []string
	it := kv.Range(nil, nil)
	for it.Next() {
		out = append(out, fmt.Sprintf("%q=%q", it.Key(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}

// TestPendingCommitModel: seeded random writes through a Pending, committed
// or aborted at random; after each commit Pebble holds what the overlay
// showed, and after an abort what it held before.
func TestPendingCommitModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	db := openDB(t, dir)
	randKey := func() []byte {
		b := make([]byte, 1+rng.IntN(3))
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return b
	}
	p := state.NewPending(db.Store("0_0", "s"))
	var offset int64
	for round := 0; round < 100; round++ {
		before := dump(t, p.Base())
		for op := 0; op < 1+rng.IntN(20); op++ {
			switch r := rng.IntN(10); {
			case r < 6:
				p.Put(randKey(), []byte(fmt.Sprintf("r%do%d", round, op)))
			case r < 9:
				p.Delete(randKey())
			default:
				a, b := randKey(), randKey()
				if rng.IntN(4) == 0 {
					b = nil
				}
				p.DeleteRange(a, b)
			}
		}
		overlay := dump(t, p)
		if rng.IntN(3) == 0 {
			p.Reset()
			if got := dump(t, p.Base()); got != before {
				t.Fatalf("seed %d round %d: abort changed Pebble:\n%s\nwant\n%s", seed, round, got, before)
			}
			continue
		}
		offset++
		cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c"}: offset}}
		if err := db.Commit("0_0", map[string]state.Batch{"s": p}, cp); err != nil {
			t.Fatal(err)
		}
		p.Reset()
		if got := dump(t, p.Base()); got != overlay {
			t.Fatalf("seed %d round %d: Pebble after commit:\n%s\nwant overlay\n%s", seed, round, got, overlay)
		}
	}
	final := dump(t, db.Store("0_0", "s"))
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	if got := dump(t, db.Store("0_0", "s")); got != final {
		t.Fatalf("seed %d: after reopen\n%s\nwant\n%s", seed, got, final)
	}
	if cp, _, _ := db.Checkpoint("0_0"); cp.Offsets[state.TopicPartition{Topic: "c"}] != offset {
		t.Fatalf("seed %d: checkpoint offset %v; want %d", seed, cp.Offsets, offset)
	}
}
