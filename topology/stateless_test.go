package topology_test

import (
	"strings"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

func TestFilterAndFilterNot(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	s.Filter("keep-a", func(k, v string) bool { return strings.HasPrefix(v, "a") }).To("a", str, str)
	s.FilterNot("drop-a", func(k, v string) bool { return strings.HasPrefix(v, "a") }).To("not-a", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	for i, v := range []string{"apple", "banana", "avocado", "cherry"} {
		must(t, in.Pipe("k", v, ms(int64(i))))
	}
	wantKVs(t, readKVs(t, d, "a", str, str), []kv[string, string]{{"k", "apple"}, {"k", "avocado"}})
	wantKVs(t, readKVs(t, d, "not-a", str, str), []kv[string, string]{{"k", "banana"}, {"k", "cherry"}})
}

func TestMapMapValuesSelectKey(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	topology.Map(s, "swap", func(k, v string) (string, string) { return v, k }).To("swapped", str, str)
	topology.MapValues(s, "len", func(k, v string) int64 { return int64(len(v)) }).To("lens", str, i64)
	topology.SelectKey(s, "upper-key", func(k, v string) string { return strings.ToUpper(k) }).To("rekeyed", str, str)
	d := driver(t, build(t, b))
	must(t, topologytest.Input(d, "in", str, str).Pipe("k1", "hello", ms(1)))
	wantKVs(t, readKVs(t, d, "swapped", str, str), []kv[string, string]{{"hello", "k1"}})
	wantKVs(t, readKVs(t, d, "lens", str, i64), []kv[string, int64]{{"k1", 5}})
	wantKVs(t, readKVs(t, d, "rekeyed", str, str), []kv[string, string]{{"K1", "hello"}})
}

func TestFlatMapAndFlatMapValues(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	topology.FlatMapValues(s, "words", func(k, v string) []string { return strings.Fields(v) }).To("words", str, str)
	topology.FlatMap(s, "by-word", func(k, v string) []topology.KeyValue[string, int64] {
		var out []topology.KeyValue[string, int64]
		for _, w := range strings.Fields(v) {
			out = append(out, topology.KeyValue[string, int64]{Key: w, Value: int64(len(w))})
		}
		return out
	}).To("word-lens", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "to be or", ms(1)))
	must(t, in.Pipe("k", "", ms(2))) // no words: no output
	wantKVs(t, readKVs(t, d, "words", str, str), []kv[string, string]{{"k", "to"}, {"k", "be"}, {"k", "or"}})
	wantKVs(t, readKVs(t, d, "word-lens", str, i64), []kv[string, int64]{{"to", 2}, {"be", 2}, {"or", 2}})
}

func TestPeekSeesEveryRecordAndPassesIt(t *testing.T) {
	b := topology.New("app")
	var seen []string
	topology.StreamOf(b, "in", str, str).Peek("log", func(k, v string) { seen = append(seen, k+"="+v) }).To("out", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("a", "1", ms(1)))
	must(t, in.Pipe("b", "2", ms(2)))
	if strings.Join(seen, ",") != "a=1,b=2" {
		t.Fatalf("peek saw %v", seen)
	}
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"a", "1"}, {"b", "2"}})
}

func TestBranchGoesToFirstMatchOnly(t *testing.T) {
	b := topology.New("app")
	br := topology.StreamOf(b, "in", str, i64).Branch("split",
		func(k string, v int64) bool { return v < 0 },
		func(k string, v int64) bool { return v < 10 },
	)
	br[0].To("negative", str, i64)
	br[1].To("small", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, i64)
	for i, v := range []int64{-5, 3, 42, -1} {
		must(t, in.Pipe("k", v, ms(int64(i))))
	}
	wantKVs(t, readKVs(t, d, "negative", str, i64), []kv[string, int64]{{"k", -5}, {"k", -1}})
	// -5 matched branch 0 only; 42 matched none.
	wantKVs(t, readKVs(t, d, "small", str, i64), []kv[string, int64]{{"k", 3}})
}

func TestMergeKeepsTimestampsAndHeaders(t *testing.T) {
	b := topology.New("app")
	a := topology.StreamOf(b, "a", str, str)
	c := topology.StreamOf(b, "b", str, str)
	a.Merge("both", c).To("out", str, str)
	d := driver(t, build(t, b))
	h := codec.Header{Key: "trace", Value: []byte("t1")}
	must(t, topologytest.Input(d, "a", str, str).Pipe("k", "from-a", ms(10), h))
	must(t, topologytest.Input(d, "b", str, str).Pipe("k", "from-b", ms(20)))
	rs, err := topologytest.Output(d, "out", str, str).ReadAll()
	must(t, err)
	if len(rs) != 2 || rs[0].Value != "from-a" || rs[1].Value != "from-b" {
		t.Fatalf("got %+v", rs)
	}
	if !rs[0].Timestamp.Equal(ms(10)) || !rs[1].Timestamp.Equal(ms(20)) {
		t.Fatalf("timestamps %v %v", rs[0].Timestamp, rs[1].Timestamp)
	}
	if len(rs[0].Headers) != 1 || rs[0].Headers[0].Key != "trace" || string(rs[0].Headers[0].Value) != "t1" {
		t.Fatalf("headers %+v", rs[0].Headers)
	}
	if rs[0].Partition != -1 {
		t.Fatalf("partition %d, want -1 (producer decides)", rs[0].Partition)
	}
}

func TestSinkPartitioner(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str,
		topology.WithPartitioner(func(key []byte, n int32) int32 { return int32(len(key)) % n }))
	d := driver(t, build(t, b), topologytest.Partitions(3))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("ab", "x", ms(1)))
	must(t, in.Pipe("abcd", "y", ms(2)))
	rs, err := topologytest.Output(d, "out", str, str).ReadAll()
	must(t, err)
	got := map[string]int32{}
	for _, r := range rs {
		got[r.Key] = r.Partition
	}
	if got["ab"] != 2 || got["abcd"] != 1 {
		t.Fatalf("partitions %v, want ab:2 abcd:1", got)
	}
}

func TestFallibleFunctionsReturnErrorsToPolicy(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str, topology.OnBadInput(topology.Skip))
	topology.MapValuesE(s, "parse", func(k, v string) (int64, error) {
		if v == "bad" {
			return 0, errBad
		}
		return int64(len(v)), nil
	}).To("out", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "ok", ms(1)))
	must(t, in.Pipe("k", "bad", ms(2)))
	must(t, in.Pipe("k", "fine", ms(3)))
	wantKVs(t, readKVs(t, d, "out", str, i64), []kv[string, int64]{{"k", 2}, {"k", 4}})
	if s := d.Stats(); s.Skipped != 1 || s.RecordsIn != 3 || s.RecordsOut != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestZeroStreamDoesNotPanic(t *testing.T) {
	var s topology.Stream[string, string]
	s.Filter("f", func(string, string) bool { return true }).To("out", str, str)
	topology.GroupByKey(topology.MapValues(s, "m", func(k, v string) int64 { return 0 }), str, i64).Count("c")
	var b *topology.Builder
	if _, err := b.Build(); err == nil {
		t.Fatal("nil Builder built")
	}
}
