package topology_test

import (
	"testing"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

func TestTableOfUpdatesAndTombstones(t *testing.T) {
	b := topology.New("app")
	tbl := topology.TableOf(b, "users", str, str)
	tbl.To("users-mirror", str, str)
	tbl.ToStream("updates").To("user-updates", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "users", str, str)
	must(t, in.Pipe("u1", "ann", ms(1)))
	must(t, in.Pipe("u2", "bob", ms(2)))
	must(t, in.Pipe("u1", "anne", ms(3)))
	must(t, in.PipeTombstone("u2", ms(4)))
	must(t, in.PipeTombstone("u3", ms(5))) // delete of a missing key: no output

	st, err := topologytest.KV(d, "users", str, str)
	must(t, err)
	all, err := st.All()
	must(t, err)
	wantKVs(t, toKVs(all), []kv[string, string]{{"u1", "anne"}})

	rs, err := topologytest.Output(d, "users-mirror", str, str).ReadAll()
	must(t, err)
	if len(rs) != 4 || !rs[3].Tombstone || rs[3].Key != "u2" || rs[2].Value != "anne" {
		t.Fatalf("mirror %+v", rs)
	}
	// ToStream drops deletes.
	wantKVs(t, readKVs(t, d, "user-updates", str, str), []kv[string, string]{{"u1", "ann"}, {"u2", "bob"}, {"u1", "anne"}})
}

func TestChangesCarryOldAndNew(t *testing.T) {
	b := topology.New("app")
	tbl := topology.TableOf(b, "t", str, i64, topology.WithStoreName("t-store"))
	topology.MapValues(topology.Changes(tbl, "changes"), "fmt", func(k string, c topology.Change[int64]) string {
		f := func(p *int64) string {
			if p == nil {
				return "-"
			}
			return string(rune('0' + *p))
		}
		return f(c.Old) + ">" + f(c.New)
	}).To("out", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "t", str, i64)
	must(t, in.Pipe("k", 1, ms(1)))
	must(t, in.Pipe("k", 2, ms(2)))
	must(t, in.PipeTombstone("k", ms(3)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"k", "->1"}, {"k", "1>2"}, {"k", "2>-"}})
	if _, err := d.Store("t-store"); err != nil {
		t.Fatalf("store named by WithStoreName: %v", err)
	}
}

func TestCountReduceAggregateByKey(t *testing.T) {
	b := topology.New("app")
	g := topology.GroupByKey(topology.StreamOf(b, "in", str, i64), str, i64)
	g.Count("count").ToStream("count-updates").To("counts", str, i64)
	g.Reduce("max", func(agg, v int64) (int64, error) { return max(agg, v), nil }).ToStream("max-updates").To("maxes", str, i64)
	topology.Aggregate(g, "sum", func() int64 { return 100 },
		func(k string, v, agg int64) (int64, error) { return agg + v, nil }, i64).ToStream("sum-updates").To("sums", str, i64)
	topo := build(t, b)
	if n := len(topo.Subtopologies()); n != 1 {
		t.Fatalf("%d sub-topologies, want 1: no repartition for GroupByKey on an unchanged key", n)
	}
	d := driver(t, topo)
	in := topologytest.Input(d, "in", str, i64)
	for i, r := range []struct {
		k string
		v int64
	}{{"a", 5}, {"b", 1}, {"a", 3}, {"a", 9}} {
		must(t, in.Pipe(r.k, r.v, ms(int64(i))))
	}
	wantKVs(t, readKVs(t, d, "counts", str, i64), []kv[string, int64]{{"a", 1}, {"b", 1}, {"a", 2}, {"a", 3}})
	wantKVs(t, readKVs(t, d, "maxes", str, i64), []kv[string, int64]{{"a", 5}, {"b", 1}, {"a", 5}, {"a", 9}})
	wantKVs(t, readKVs(t, d, "sums", str, i64), []kv[string, int64]{{"a", 105}, {"b", 101}, {"a", 108}, {"a", 117}})
	st, err := topologytest.KV(d, "count", str, i64)
	must(t, err)
	if v, ok, err := st.Get("a"); err != nil || !ok || v != 3 {
		t.Fatalf("store count[a] = %d %v %v", v, ok, err)
	}
}

func TestGroupByRepartitionsIntoNewSubtopology(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "clicks", str, str) // user -> page
	byPage := topology.GroupBy(s, "by-page", func(user, page string) string { return page }, str, str)
	byPage.Count("page-views").ToStream("page-view-updates").To("page-counts", str, i64)
	topo := build(t, b)
	subs := topo.Subtopologies()
	if len(subs) != 2 {
		t.Fatalf("%d sub-topologies, want 2", len(subs))
	}
	if src := subs[1].Sources; len(src) != 1 || src[0].Topic != "app-by-page-repartition" || !src[0].Internal {
		t.Fatalf("sub-topology 1 sources %+v", src)
	}
	if st := subs[1].Stores; len(st) != 1 || st[0].Changelog != "app-page-views-changelog" {
		t.Fatalf("sub-topology 1 stores %+v", st)
	}
	for _, parts := range []int32{1, 4} {
		d := driver(t, topo, topologytest.Partitions(parts))
		in := topologytest.Input(d, "clicks", str, str)
		for i, c := range [][2]string{{"u1", "home"}, {"u2", "home"}, {"u3", "cart"}, {"u1", "home"}} {
			must(t, in.Pipe(c[0], c[1], ms(int64(i))))
		}
		if n := len(d.Outputs("app-by-page-repartition")); n != 4 {
			t.Fatalf("partitions=%d: %d repartition records, want 4", parts, n)
		}
		st, err := topologytest.KV(d, "page-views", str, i64)
		must(t, err)
		all, err := st.All()
		must(t, err)
		wantKVs(t, toKVs(all), []kv[string, int64]{{"cart", 1}, {"home", 3}})
	}
}

func TestSelectKeyThenGroupByKeyRepartitions(t *testing.T) {
	b := topology.New("app")
	s := topology.SelectKey(topology.StreamOf(b, "in", str, str), "by-value", func(k, v string) string { return v })
	topology.GroupByKey(s, str, str).Count("per-value")
	topo := build(t, b)
	if subs := topo.Subtopologies(); len(subs) != 2 || subs[1].Sources[0].Topic != "app-per-value-repartition" {
		t.Fatalf("sub-topologies %+v", subs)
	}
}

func TestToTableRepartitionsOnlyAfterKeyChange(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	s.ToTable("same-key", str, str)
	topology.SelectKey(s, "rekey", func(k, v string) string { return v }).ToTable("by-value", str, str)
	topo := build(t, b)
	if n := len(topo.Subtopologies()); n != 2 {
		t.Fatalf("%d sub-topologies, want 2", n)
	}
	d := driver(t, topo)
	must(t, topologytest.Input(d, "in", str, str).Pipe("k", "v", ms(1)))
	st, err := topologytest.KV(d, "by-value", str, str)
	must(t, err)
	if v, ok, _ := st.Get("v"); !ok || v != "v" {
		t.Fatalf("by-value[v] = %q %v", v, ok)
	}
}

// A table of user -> region, counted per region: a user moving region is
// subtracted from the old one before being added to the new one.
func TestGroupedTableSubtractsThenAdds(t *testing.T) {
	b := topology.New("app")
	users := topology.TableOf(b, "users", str, str)
	g := topology.GroupTableBy(users, "by-region", func(u, region string) (string, string) { return region, u }, str, str)
	g.Count("users-per-region").ToStream("region-updates").To("region-counts", str, i64)
	topology.AggregateTable(g, "names", func() string { return "" },
		func(_ string, u, agg string) (string, error) { return agg + "+" + u, nil },
		func(_ string, u, agg string) (string, error) { return agg + "-" + u, nil }, str).
		ToStream("names-updates").To("region-names", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "users", str, str)
	must(t, in.Pipe("ann", "eu", ms(1)))
	must(t, in.Pipe("bob", "eu", ms(2)))
	must(t, in.Pipe("ann", "us", ms(3))) // moves: eu -1, then us +1
	must(t, in.Pipe("bob", "eu", ms(4))) // same region: one combined update
	must(t, in.PipeTombstone("bob", ms(5)))
	wantKVs(t, readKVs(t, d, "region-counts", str, i64), []kv[string, int64]{
		{"eu", 1}, {"eu", 2}, {"eu", 1}, {"us", 1}, {"eu", 1}, {"eu", 0},
	})
	wantKVs(t, readKVs(t, d, "region-names", str, str), []kv[string, string]{
		{"eu", "+ann"}, {"eu", "+ann+bob"}, {"eu", "+ann+bob-ann"}, {"us", "+ann"},
		{"eu", "+ann+bob-ann-bob+bob"}, {"eu", "+ann+bob-ann-bob+bob-bob"},
	})
}

func TestGroupedTableReduce(t *testing.T) {
	b := topology.New("app")
	scores := topology.TableOf(b, "scores", str, i64) // player -> score
	g := topology.GroupTableBy(scores, "all", func(p string, s int64) (string, int64) { return "total", s }, str, i64)
	g.Reduce("total",
		func(agg, v int64) (int64, error) { return agg + v, nil },
		func(agg, v int64) (int64, error) { return agg - v, nil }).ToStream("total-updates").To("totals", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "scores", str, i64)
	must(t, in.Pipe("p1", 10, ms(1)))
	must(t, in.Pipe("p2", 5, ms(2)))
	must(t, in.Pipe("p1", 12, ms(3)))
	must(t, in.PipeTombstone("p2", ms(4)))
	wantKVs(t, readKVs(t, d, "totals", str, i64), []kv[string, int64]{{"total", 10}, {"total", 15}, {"total", 17}, {"total", 12}})
}
