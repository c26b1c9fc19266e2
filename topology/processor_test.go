package topology_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// dedup forwards a key's first value only, remembering seen keys in a store,
// and on each punctuation emits how many keys it has seen.
type dedup struct {
	seen   *topology.KVStore[string, int64]
	fired  *[]string
	every  time.Duration
	clock  topology.PunctuationType
	cancel func()
}

func (p *dedup) Init(ctx *topology.Context[string, string]) error {
	var err error
	if p.seen, err = topology.KV(ctx, "seen", str, i64); err != nil {
		return err
	}
	p.cancel, err = ctx.Schedule(p.every, p.clock, func(now time.Time) error {
		_, inRecord := ctx.Record()
		n := 0
		err := p.seen.All(func(string, int64) (bool, error) { n++; return true, nil })
		*p.fired = append(*p.fired, fmt.Sprintf("%d:%d:%v", now.UnixMilli(), n, inRecord))
		if err != nil {
			return err
		}
		return ctx.Forward("keys", fmt.Sprint(n))
	})
	return err
}

func (p *dedup) Process(ctx *topology.Context[string, string], k, v string) error {
	_, ok, err := p.seen.Get(k)
	if err != nil || ok {
		return err
	}
	if err := p.seen.Put(k, 1); err != nil {
		return err
	}
	if v == "stop" {
		p.cancel()
	}
	return ctx.Forward(k, v)
}

func dedupTopology(t *testing.T, clock topology.PunctuationType, fired *[]string) *topology.Topology {
	b := topology.New("app")
	out := topology.Process(topology.StreamOf(b, "in", str, str), "dedup",
		func() topology.Processor[string, string, string, string] {
			return &dedup{fired: fired, every: 10 * time.Millisecond, clock: clock}
		}, topology.KeyValueStore("seen"))
	out.To("out", str, str)
	return build(t, b)
}

func TestProcessorStoreAndForward(t *testing.T) {
	var fired []string
	d := driver(t, dedupTopology(t, topology.WallClock, &fired))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("a", "1", ms(1)))
	must(t, in.Pipe("a", "2", ms(2)))
	must(t, in.Pipe("b", "3", ms(3)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"a", "1"}, {"b", "3"}})
	st, err := topologytest.KV(d, "seen", str, i64)
	must(t, err)
	all, err := st.All()
	must(t, err)
	wantKVs(t, toKVs(all), []kv[string, int64]{{"a", 1}, {"b", 1}})
}

func TestStreamTimePunctuation(t *testing.T) {
	var fired []string
	d := driver(t, dedupTopology(t, topology.StreamTime, &fired))
	in := topologytest.Input(d, "in", str, str)
	// As in Kafka Streams, the first record fires a schedule set up in
	// Init; later firings follow multiples of the interval.
	must(t, in.Pipe("a", "x", ms(3)))  // first record: fires, next boundary 10
	must(t, in.Pipe("b", "x", ms(9)))  // 9 < 10
	must(t, in.Pipe("c", "x", ms(10))) // reaches 10: fires
	must(t, in.Pipe("d", "x", ms(4)))  // out of order: stream time stays 10
	must(t, in.Pipe("e", "x", ms(35))) // jumps over 20 and 30: fires once
	must(t, d.AdvanceWallClock(time.Hour))
	want := "3:1:false,10:3:false,35:5:false"
	if got := strings.Join(fired, ","); got != want {
		t.Fatalf("fired %s, want %s", got, want)
	}
	task, _ := d.Task(topology.TaskID{})
	if !task.StreamTime().Equal(ms(35)) {
		t.Fatalf("stream time %v", task.StreamTime())
	}
	rs, err := topologytest.Output(d, "out", str, str).ReadAll()
	must(t, err)
	var keys []string
	for _, r := range rs {
		if r.Key == "keys" {
			keys = append(keys, fmt.Sprintf("%s@%d", r.Value, r.Timestamp.UnixMilli()))
		}
	}
	if got := strings.Join(keys, ","); got != "1@3,3@10,5@35" {
		t.Fatalf("punctuation outputs %s, want 1@3,3@10,5@35 (stamped with punctuation time)", got)
	}
}

func TestWallClockPunctuationAndCancel(t *testing.T) {
	var fired []string
	d := driver(t, dedupTopology(t, topology.WallClock, &fired), topologytest.WallClockStart(ms(1000)))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("a", "x", ms(999999))) // stream time does not drive wall-clock schedules
	must(t, d.AdvanceWallClock(5*time.Millisecond))
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	must(t, d.AdvanceWallClock(5*time.Millisecond))  // 1010: due
	must(t, d.AdvanceWallClock(25*time.Millisecond)) // 1035: one firing for 1020 and 1030
	must(t, in.Pipe("b", "stop", ms(1)))             // cancels
	must(t, d.AdvanceWallClock(time.Second))
	want := "1010:1:false,1035:1:false"
	if got := strings.Join(fired, ","); got != want {
		t.Fatalf("fired %s, want %s", got, want)
	}
}

func TestRecordMetadataAndHeaders(t *testing.T) {
	b := topology.New("app")
	var metas []topology.RecordMeta
	s := topology.StreamOf(b, "in", str, str, topology.TimestampFrom(func(k, v string, rt time.Time) time.Time {
		return rt.Add(time.Second) // event time one second after the record time
	}))
	topology.Process(s, "meta", func() topology.Processor[string, string, string, string] {
		return topology.ProcessorFunc[string, string, string, string](func(ctx *topology.Context[string, string], k, v string) error {
			m, ok := ctx.Record()
			if !ok {
				return errors.New("no record metadata in Process")
			}
			metas = append(metas, m)
			return ctx.Forward(k, v+"!")
		})
	}).To("out", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "a", ms(100), codec.Header{Key: "h", Value: []byte("1")}))
	must(t, in.Pipe("k", "b", ms(200)))
	if len(metas) != 2 {
		t.Fatalf("%d metas", len(metas))
	}
	m := metas[1]
	if m.Topic != "in" || m.Partition != 0 || m.Offset != 1 || !m.Timestamp.Equal(ms(1200)) {
		t.Fatalf("meta %+v", m)
	}
	if h := metas[0].Headers; len(h) != 1 || h[0].Key != "h" {
		t.Fatalf("headers %+v", h)
	}
	rs, err := topologytest.Output(d, "out", str, str).ReadAll()
	must(t, err)
	if rs[0].Value != "a!" || !rs[0].Timestamp.Equal(ms(1100)) || len(rs[0].Headers) != 1 {
		t.Fatalf("forwarded %+v: want event time and input headers", rs[0])
	}
}

func TestProcessorStoreMustBeDeclared(t *testing.T) {
	b := topology.New("app")
	topology.Process(topology.StreamOf(b, "in", str, str), "p", func() topology.Processor[string, string, string, string] {
		return &storeGrabber{name: "other"}
	}, topology.KeyValueStore("mine"))
	topology.Process(topology.StreamOf(b, "in2", str, str), "q", func() topology.Processor[string, string, string, string] {
		return &storeGrabber{name: "mine"}
	}, topology.KeyValueStore("other"))
	_, err := topologytest.New(build(t, b))
	if !errors.Is(err, topology.ErrUnknownStore) {
		t.Fatalf("err = %v, want ErrUnknownStore", err)
	}
}

type storeGrabber struct{ name string }

func (s *storeGrabber) Init(ctx *topology.Context[string, string]) error {
	_, err := ctx.Store(s.name)
	return err
}
func (s *storeGrabber) Process(*topology.Context[string, string], string, string) error { return nil }

func TestExistingStoreJoinsSubtopologies(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).ToTable("latest", str, str)
	var got []string
	topology.Process(topology.StreamOf(b, "lookups", str, str), "lookup", func() topology.Processor[string, string, string, string] {
		return topology.ProcessorFunc[string, string, string, string](func(ctx *topology.Context[string, string], k, v string) error {
			st, err := topology.KV(ctx, "latest", str, str)
			if err != nil {
				return err
			}
			x, ok, err := st.Get(k)
			got = append(got, fmt.Sprintf("%s %v", x, ok))
			return err
		})
	}, topology.ExistingStore("latest"))
	topo := build(t, b)
	if n := len(topo.Subtopologies()); n != 1 {
		t.Fatalf("%d sub-topologies, want 1 (shared store)", n)
	}
	d := driver(t, topo)
	must(t, topologytest.Input(d, "in", str, str).Pipe("k", "v1", ms(1)))
	must(t, topologytest.Input(d, "lookups", str, str).Pipe("k", "", ms(2)))
	must(t, topologytest.Input(d, "lookups", str, str).Pipe("z", "", ms(3)))
	if strings.Join(got, ",") != "v1 true, false" {
		t.Fatalf("lookups %q", got)
	}
}
