package topology

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

type memStores map[string]state.KeyValueStore

func (m memStores) KeyValue(name string) (state.KeyValueStore, error) {
	if m[name] == nil {
		m[name] = state.NewMemory()
	}
	return m[name], nil
}

// The hooks windowed operations and joins build on: a node that counts
// late records, watches stream time, reads a global store and, reading
// two topics, makes them a copartition group.
func TestExtensionHooks(t *testing.T) {
	b := New("app")
	s := StreamOf(b, "in", codec.String(), codec.String())
	other := StreamOf(b, "other", codec.String(), codec.String())
	g := GlobalTableOf(b, "catalog", codec.String(), codec.String())
	var seen []int64
	var lookups []string
	n := b.add("late-counter", "test", kindProcessor, []*node{s.n, other.n}, func(nc *nodeCtx) (proc, error) {
		nc.onStreamTime(func(st time.Time) error { seen = append(seen, st.UnixMilli()); return nil })
		kv, topic, err := nc.store(g.Store())
		if err != nil {
			return nil, err
		}
		cat := WrapKV(kv, topic, codec.String(), codec.String())
		return procFunc(func(m msg) error {
			if st, _ := nc.streamTime(); m.ts.Before(st) {
				nc.countLate()
			}
			v, _, err := cat.Get(as[string](m.key))
			lookups = append(lookups, v)
			return err
		}), nil
	})
	b.useStore(n, g.Store())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if cg := topo.CopartitionGroups(); len(cg) != 1 || len(cg[0]) != 2 || cg[0][0] != "in" || cg[0][1] != "other" {
		t.Fatalf("copartition groups %v", cg)
	}
	stores := memStores{}
	task, err := topo.NewTask(TaskID{}, stores)
	if err != nil {
		t.Fatal(err)
	}
	if err := stores["catalog"].Put([]byte("k"), []byte("known")); err != nil {
		t.Fatal(err)
	}
	for i, ts := range []int64{5, 9, 7} {
		if err := task.Add(Record{Topic: "in", Offset: int64(i), Key: []byte("k"), Value: []byte("v"), Timestamp: time.UnixMilli(ts)}); err != nil {
			t.Fatal(err)
		}
		if _, err := task.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := task.Stats().Late; got != 1 {
		t.Fatalf("late = %d, want 1 (the record at 7 after stream time 9)", got)
	}
	if len(seen) != 3 || seen[0] != 5 || seen[1] != 9 || seen[2] != 9 {
		t.Fatalf("stream time hook saw %v, want [5 9 9]", seen)
	}
	if len(lookups) != 3 || lookups[0] != "known" {
		t.Fatalf("global lookups %v", lookups)
	}
}
