package topology_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// erasureTopology keeps a key's data in every kind of store: a count
// (key-value), a tumbling count (window), a session count (session) and
// both buffers of a stream-stream join; erasures flow with the events and
// delete the key's output row.
func erasureTopology(t *testing.T) *topology.Topology {
	b := topology.New("app")
	events := topology.StreamOf(b, "events", str, str)
	clicks := topology.StreamOf(b, "clicks", str, str)
	erasures := topology.ErasuresOf(b, "erasures", str, str)
	erasures.ToTombstones("counts-out", str)
	const erase = "\x00erase"
	all := events.Merge("with-erasures", topology.MapValues(erasures, "erasure-marker", func(_, _ string) string { return erase }))
	kept := all.Filter("events-only", func(_, v string) bool { return v != erase })
	topology.GroupByKey(kept, str, str).Count("counts").ToStream("count-changes").To("counts-out", str, i64)
	topology.GroupByKey(kept, str, str).WindowedBy(topology.Tumbling(time.Minute).Grace(time.Hour)).Count("per-minute")
	topology.GroupByKey(kept, str, str).WindowedBy(topology.Session(time.Minute).Grace(time.Hour)).Count("sessions")
	topology.JoinStreams(kept, clicks, "joined", topology.JoinWithin(time.Hour).Grace(0),
		func(_, e, c string) string { return e + "+" + c }, str, str, str).To("joined-out", str, str)
	return build(t, b)
}

// holding lists the stores (but the erasure store) with a key or value
// containing s, in any partition.
func holding(t *testing.T, d *topologytest.Driver, topo *topology.Topology, s string) []string {
	t.Helper()
	var found []string
	for _, st := range topo.Stores() {
		if st.Name == "erasures" {
			continue
		}
		kv, err := d.Store(st.Name)
		must(t, err)
		it := kv.Range(nil, nil)
		for it.Next() {
			if bytes.Contains(it.Key(), []byte(s)) || bytes.Contains(it.Value(), []byte(s)) {
				found = append(found, st.Name)
				break
			}
		}
		must(t, it.Err())
		must(t, it.Close())
	}
	return found
}

func TestErasureDeletesTheKeyFromEveryStore(t *testing.T) {
	topo := erasureTopology(t)
	d := driver(t, topo)
	ev := topologytest.Input(d, "events", str, str)
	cl := topologytest.Input(d, "clicks", str, str)
	er := topologytest.Input(d, "erasures", str, str)
	for i, k := range []string{"alice", "bob", "alice"} {
		must(t, ev.Pipe(k, "view", ms(int64(1000*(i+1)))))
		must(t, cl.Pipe(k, "click", ms(int64(1000*(i+1)+500))))
	}
	stores := len(topo.Stores()) - 1 // but the erasure store
	if got := holding(t, d, topo, "alice"); len(got) != stores || stores != 5 {
		t.Fatalf("before the erasure alice is in %v, want all %d stores", got, stores)
	}
	must(t, er.Pipe("alice", "request-1", ms(10_000)))

	if got := holding(t, d, topo, "alice"); len(got) != 0 {
		t.Fatalf("after the erasure alice is still in %v", got)
	}
	if got := holding(t, d, topo, "bob"); len(got) != stores {
		t.Fatalf("bob is in %v, want all %d stores: an erasure touches its own key only", got, stores)
	}
	out := readRecords(t, d, "counts-out")
	last := out[len(out)-1]
	if last.Key != "alice" || !last.Tombstone {
		t.Fatalf("last output %+v, want alice's tombstone", last)
	}
	if s := d.Stats(); s.Erasures != 1 {
		t.Fatalf("stats %+v, want 1 erasure", s)
	}

	// Events of alice not after the erasure are ignored, after a restart
	// too; later ones start her afresh.
	must(t, d.Reopen())
	must(t, ev.Pipe("alice", "late view", ms(9_000)))
	must(t, ev.Pipe("alice", "same time", ms(10_000)))
	must(t, cl.Pipe("alice", "late click", ms(10_000)))
	if got := holding(t, d, topo, "alice"); len(got) != 0 {
		t.Fatalf("records older than the erasure came back in %v", got)
	}
	if s := d.Stats(); s.Erased != 3 {
		t.Fatalf("stats %+v, want 3 records ignored", s)
	}
	must(t, ev.Pipe("alice", "new view", ms(11_000)))
	counts, err := topologytest.KV(d, "counts", str, i64)
	must(t, err)
	if n, ok, err := counts.Get("alice"); err != nil || !ok || n != 1 {
		t.Fatalf("alice's count after a new event: %d %v %v, want 1", n, ok, err)
	}
	if n, _, _ := counts.Get("bob"); n != 1 {
		t.Fatalf("bob's count %d, want 1", n)
	}
}

func readRecords(t *testing.T, d *topologytest.Driver, topic string) []topologytest.Record[string, int64] {
	t.Helper()
	rs, err := topologytest.Output(d, topic, str, i64).ReadAll()
	must(t, err)
	return rs
}

func TestErasuresMustReachTheState(t *testing.T) {
	b := topology.New("app")
	events := topology.StreamOf(b, "events", str, str)
	topology.GroupByKey(events, str, str).Count("counts")
	topology.ErasuresOf(b, "erasures", str, str).ToTombstones("out", str)
	_, err := b.Build()
	if !errors.Is(err, topology.ErrBadOption) || !strings.Contains(err.Error(), "erases nothing") {
		t.Fatalf("Build with an erasure stream apart from the state: %v", err)
	}
}
