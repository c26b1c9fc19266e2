package topologytest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

var str = codec.String()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoutesByKeyLikeKafka(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).ToTable("latest", str, str)
	topo, err := b.Build()
	must(t, err)
	d, err := topologytest.New(topo, topologytest.Partitions(2))
	must(t, err)
	in := topologytest.Input(d, "in", str, str)
	// Kafka's partitioner: (murmur2(key) & 0x7fffffff) % 2, with murmur2
	// values from Kafka's own tests: "21" -973932308 -> 0, "foobar"
	// -790332482 -> 0, "abc" 479470107 -> 1.
	want := map[string]int32{"21": 0, "foobar": 0, "abc": 1}
	for k := range want {
		must(t, in.Pipe(k, "v-"+k, time.UnixMilli(1)))
	}
	for k, p := range want {
		for part := int32(0); part < 2; part++ {
			st, err := d.StoreAt("latest", part)
			must(t, err)
			_, ok, err := st.Get([]byte(k))
			must(t, err)
			if ok != (part == p) {
				t.Errorf("key %q in partition %d: %v, want only in %d", k, part, ok, p)
			}
		}
	}
	view, err := topologytest.KV(d, "latest", str, str)
	must(t, err)
	all, err := view.All()
	must(t, err)
	if len(all) != 3 || all[0].Key != "21" || all[1].Key != "abc" || all[2].Key != "foobar" {
		t.Fatalf("merged view %v", all)
	}
}

func TestOutputReadersHaveOwnPosition(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str)
	topo, err := b.Build()
	must(t, err)
	d, err := topologytest.New(topo)
	must(t, err)
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("a", "1", time.UnixMilli(1)))
	o1 := topologytest.Output(d, "out", str, str)
	r, ok, err := o1.Read()
	if err != nil || !ok || r.Key != "a" {
		t.Fatalf("Read = %+v %v %v", r, ok, err)
	}
	if _, ok, _ := o1.Read(); ok {
		t.Fatal("read past the end")
	}
	must(t, in.Pipe("b", "2", time.UnixMilli(2)))
	rs, err := topologytest.Output(d, "out", str, str).ReadAll()
	must(t, err)
	if len(rs) != 2 {
		t.Fatalf("a new reader starts at the beginning: got %d records", len(rs))
	}
	if r, ok, _ := o1.Read(); !ok || r.Key != "b" {
		t.Fatalf("first reader continues: %+v %v", r, ok)
	}
}

func TestGlobalTableFilledFromTopic(t *testing.T) {
	b := topology.New("app")
	g := topology.GlobalTableOf(b, "catalog", str, str)
	topology.StreamOf(b, "in", str, str).To("out", str, str)
	topo, err := b.Build()
	must(t, err)
	d, err := topologytest.New(topo, topologytest.Partitions(2))
	must(t, err)
	cat := topologytest.Input(d, "catalog", str, str)
	must(t, cat.Pipe("p1", "lamp", time.UnixMilli(1)))
	must(t, cat.Pipe("p2", "desk", time.UnixMilli(1)))
	must(t, cat.PipeTombstone("p1", time.UnixMilli(2)))
	view, err := topologytest.KV(d, g.Store(), str, str)
	must(t, err)
	all, err := view.All()
	must(t, err)
	if len(all) != 1 || all[0].Key != "p2" || all[0].Value != "desk" {
		t.Fatalf("global store %v", all)
	}
}

func TestUnknownTopicAndStore(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str)
	topo, err := b.Build()
	must(t, err)
	d, err := topologytest.New(topo)
	must(t, err)
	if err := d.PipeRaw("nope", nil, nil, time.Time{}); !errors.Is(err, topology.ErrUnknownTopic) {
		t.Fatalf("pipe to unknown topic: %v", err)
	}
	if _, err := d.Store("nope"); !errors.Is(err, topologytest.ErrUnknownStore) {
		t.Fatalf("unknown store: %v", err)
	}
	if _, err := topologytest.New(topo, topologytest.Partitions(0)); err == nil {
		t.Fatal("0 partitions accepted")
	}
}

// A nil topology (from a Build whose error was dropped) is an error.
func TestNewWithNilTopologyIsAnError(t *testing.T) {
	if _, err := topologytest.New(nil); err == nil || !strings.Contains(err.Error(), "nil topology") {
		t.Fatalf("New(nil) = %v, want an error", err)
	}
}

// seenProc forwards, per record, how many records this processor instance
// saw and how many the store counted.
type seenProc struct {
	seen  int
	count *topology.KVStore[string, string]
}

func (p *seenProc) Init(ctx *topology.Context[string, string]) error {
	var err error
	p.count, err = topology.KV(ctx, "count", str, str)
	return err
}

func (p *seenProc) Process(ctx *topology.Context[string, string], k, _ string) error {
	p.seen++
	n, _, err := p.count.Get(k)
	if err != nil {
		return err
	}
	n += "x"
	if err := p.count.Put(k, n); err != nil {
		return err
	}
	return ctx.Forward(k, strings.Repeat("s", p.seen)+"/"+n)
}

// Reopen starts processors afresh over the stores as they are, and keeps
// the outputs so far.
func TestReopenKeepsStoresNotProcessors(t *testing.T) {
	b := topology.New("app")
	topology.Process(topology.StreamOf(b, "in", str, str), "seen",
		func() topology.Processor[string, string, string, string] { return &seenProc{} },
		topology.KeyValueStore("count")).To("out", str, str)
	topo, err := b.Build()
	must(t, err)
	d, err := topologytest.New(topo)
	must(t, err)
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "v", time.UnixMilli(1)))
	must(t, in.Pipe("k", "v", time.UnixMilli(2)))
	must(t, d.Reopen())
	must(t, in.Pipe("k", "v", time.UnixMilli(3)))
	got, err := topologytest.Output(d, "out", str, str).ReadKeyValues()
	must(t, err)
	want := []string{"s/x", "ss/xx", "s/xxx"}
	if len(got) != len(want) {
		t.Fatalf("outputs %v; want values %v", got, want)
	}
	for i := range want {
		if got[i].Value != want[i] {
			t.Fatalf("output %d: %q; want %q", i, got[i].Value, want[i])
		}
	}
}
