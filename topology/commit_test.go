package topology_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// latest remembers the last value per key and forwards each changed key
// once per commit, in the order the keys first changed.
type latest struct {
	order []string
	last  map[string]string
	tag   string
	fail  error
}

func (p *latest) Init(ctx *topology.Context[string, string]) error {
	p.last = map[string]string{}
	return ctx.OnCommit(func() error {
		if p.fail != nil {
			return p.fail
		}
		for _, k := range p.order {
			if err := ctx.Forward(k, p.tag+p.last[k]); err != nil {
				return err
			}
		}
		p.order, p.last = nil, map[string]string{}
		return nil
	})
}

func (p *latest) Process(_ *topology.Context[string, string], k, v string) error {
	if _, ok := p.last[k]; !ok {
		p.order = append(p.order, k)
	}
	p.last[k] = v
	return nil
}

func commitTopology(t *testing.T, procs ...*latest) *topology.Topology {
	t.Helper()
	b := topology.New("commit")
	in := topology.StreamOf(b, "in", str, str)
	for i, p := range procs {
		topology.Process(in, "latest-"+string(rune('a'+i)), func() topology.Processor[string, string, string, string] { return p }).
			To("out", str, str)
	}
	return build(t, b)
}

func TestCommitHookForwardsBufferedValuesAtCommitOnly(t *testing.T) {
	topo := commitTopology(t, &latest{})
	d := driver(t, topo, topologytest.ManualCommit())
	in := topologytest.Input(d, "in", str, str)
	out := topologytest.Output(d, "out", str, str)
	must(t, in.Pipe("b", "1", ms(1)))
	must(t, in.Pipe("a", "1", ms(2)))
	must(t, in.Pipe("b", "2", ms(3)))
	if got, err := out.ReadKeyValues(); err != nil || len(got) != 0 {
		t.Fatalf("before commit: got %v, %v; want nothing", got, err)
	}
	must(t, d.Commit())
	got, err := out.ReadAll()
	must(t, err)
	want := []kv[string, string]{{"b", "2"}, {"a", "1"}}
	if len(got) != len(want) {
		t.Fatalf("after commit: got %v, want %v", got, want)
	}
	for i, r := range got {
		if r.Key != want[i].Key || r.Value != want[i].Value {
			t.Fatalf("record %d: got %s=%s, want %s=%s", i, r.Key, r.Value, want[i].Key, want[i].Value)
		}
		if !r.Timestamp.Equal(ms(3)) {
			t.Errorf("record %d: timestamp %v, want the stream time %v", i, r.Timestamp, ms(3))
		}
	}
	must(t, d.Commit())
	if got, _ := out.ReadAll(); len(got) != 0 {
		t.Fatalf("second commit with no input: got %v, want nothing", got)
	}
}

func TestCommitHooksRunInRegistrationOrder(t *testing.T) {
	a, b := &latest{tag: "a:"}, &latest{tag: "b:"}
	topo := commitTopology(t, a, b)
	d := driver(t, topo, topologytest.ManualCommit())
	must(t, topologytest.Input(d, "in", str, str).Pipe("k", "v", ms(1)))
	must(t, d.Commit())
	got, err := topologytest.Output(d, "out", str, str).ReadKeyValues()
	must(t, err)
	// Init runs later nodes first, so latest-b registered its hook first.
	want := []topologytest.KeyValue[string, string]{{Key: "k", Value: "b:v"}, {Key: "k", Value: "a:v"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("commit outputs %v, want %v", got, want)
	}
}

func TestDriverCommitsAfterEveryPipeByDefault(t *testing.T) {
	d := driver(t, commitTopology(t, &latest{}))
	in := topologytest.Input(d, "in", str, str)
	out := topologytest.Output(d, "out", str, str)
	must(t, in.Pipe("k", "1", ms(1)))
	must(t, in.Pipe("k", "2", ms(2)))
	got, err := out.ReadKeyValues()
	must(t, err)
	if want := []topologytest.KeyValue[string, string]{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCommitHookErrorStopsTask(t *testing.T) {
	boom := errors.New("boom")
	d := driver(t, commitTopology(t, &latest{fail: boom}), topologytest.ManualCommit())
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "1", ms(1)))
	err := d.Commit()
	if !errors.Is(err, topology.ErrCommitHook) || !errors.Is(err, boom) {
		t.Fatalf("Commit: %v; want ErrCommitHook wrapping boom", err)
	}
	if err := in.Pipe("k", "2", ms(2)); !errors.Is(err, topology.ErrTaskFailed) {
		t.Fatalf("Pipe after a failed commit: %v; want ErrTaskFailed", err)
	}
}
