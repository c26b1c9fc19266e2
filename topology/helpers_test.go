package topology_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func build(t testing.TB, b *topology.Builder) *topology.Topology {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return topo
}

func driver(t testing.TB, topo *topology.Topology, opts ...topologytest.Opt) *topologytest.Driver {
	t.Helper()
	d, err := topologytest.New(topo, opts...)
	must(t, err)
	return d
}

// ms is a timestamp n milliseconds after the epoch.
func ms(n int64) time.Time { return time.UnixMilli(n).UTC() }

// kv is local so test tables can use unkeyed literals.
type kv[K, V any] struct {
	Key   K
	Value V
}

func toKVs[K, V any](in []topologytest.KeyValue[K, V]) []kv[K, V] {
	out := make([]kv[K, V], len(in))
	for i, x := range in {
		out[i] = kv[K, V]{x.Key, x.Value}
	}
	return out
}

func readKVs[K, V any](t testing.TB, d *topologytest.Driver, topic string, ks codec.Serde[K], vs codec.Serde[V]) []kv[K, V] {
	t.Helper()
	got, err := topologytest.Output(d, topic, ks, vs).ReadKeyValues()
	must(t, err)
	return toKVs(got)
}

func wantKVs[K, V any](t testing.TB, got, want []kv[K, V]) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

var (
	str = codec.String()
	i64 = codec.Int64()
)
