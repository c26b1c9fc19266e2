package topology_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

func TestStreamTableJoinSeesTableAtRecordTime(t *testing.T) {
	b := topology.New("app")
	clicks := topology.StreamOf(b, "clicks", str, str)
	users := topology.TableOf(b, "users", str, str)
	topology.JoinTable(clicks, users, "inner", func(_, page, user string) string { return user + " " + page }).
		To("inner-out", str, str)
	topology.LeftJoinTable(clicks, users, "left", func(_, page, user string, found bool) string {
		if !found {
			return "? " + page
		}
		return user + " " + page
	}).To("left-out", str, str)
	topo := build(t, b)
	if cg := topo.CopartitionGroups(); !reflect.DeepEqual(cg, [][]string{{"clicks", "users"}}) {
		t.Fatalf("copartition groups %v", cg)
	}
	d := driver(t, topo)
	c := topologytest.Input(d, "clicks", str, str)
	u := topologytest.Input(d, "users", str, str)
	must(t, c.Pipe("u1", "/a", ms(1)))
	must(t, u.Pipe("u1", "ann", ms(2)))
	must(t, c.Pipe("u1", "/b", ms(3)))
	must(t, u.Pipe("u1", "anne", ms(4)))
	must(t, c.Pipe("u1", "/c", ms(5)))
	must(t, u.PipeTombstone("u1", ms(6)))
	must(t, c.Pipe("u1", "/d", ms(7)))
	wantKVs(t, readKVs(t, d, "inner-out", str, str), []kv[string, string]{{"u1", "ann /b"}, {"u1", "anne /c"}})
	wantKVs(t, readKVs(t, d, "left-out", str, str), []kv[string, string]{
		{"u1", "? /a"}, {"u1", "ann /b"}, {"u1", "anne /c"}, {"u1", "? /d"}})
}

func TestStreamTableJoinRepartitionsReKeyedStream(t *testing.T) {
	mk := func(opts ...topology.JoinOpt) *topology.Builder {
		b := topology.New("app")
		orders := topology.StreamOf(b, "orders", str, str) // order id -> user id
		byUser := topology.SelectKey(orders, "by-user", func(_, user string) string { return user })
		users := topology.TableOf(b, "users", str, str)
		topology.JoinTable(byUser, users, "enrich", func(user, _, name string) string { return name }, opts...).
			To("out", str, str)
		return b
	}
	if _, err := mk().Build(); !errors.Is(err, topology.ErrNilSerde) || !strings.Contains(err.Error(), "RepartitionValues") {
		t.Fatalf("Build without a value serde: %v", err)
	}
	topo := build(t, mk(topology.RepartitionValues(str)))
	subs := topo.Subtopologies()
	if len(subs) != 2 || subs[1].Sources[0].Topic != "app-enrich-repartition" {
		t.Fatalf("sub-topologies %+v, want the join after app-enrich-repartition", subs)
	}
	// The repartition topic takes the table's partition count (it used to
	// take the orders topic's, so orders with more partitions than users
	// met the table's rows on other tasks), and orders may differ.
	if cg := topo.CopartitionGroups(); len(cg) != 0 {
		t.Fatalf("copartition groups %v, want none", cg)
	}
	if its := topo.InternalTopics(); its[0].Name != "app-enrich-repartition" || !reflect.DeepEqual(its[0].PartitionsFrom, []string{"users"}) {
		t.Fatalf("internal topics %+v, want app-enrich-repartition sized from users", its)
	}
	d := driver(t, topo, topologytest.Partitions(3))
	must(t, topologytest.Input(d, "users", str, str).Pipe("u7", "ann", ms(1)))
	must(t, topologytest.Input(d, "orders", str, str).Pipe("o1", "u7", ms(2)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"u7", "ann"}})
}

func TestStreamGlobalTableJoinByField(t *testing.T) {
	b := topology.New("app")
	orders := topology.StreamOf(b, "orders", str, str) // order id -> product id
	products := topology.GlobalTableOf(b, "products", str, str)
	productOf := func(_, product string) string { return product }
	topology.JoinGlobal(orders, products, "with-product", productOf,
		func(order, _, name string) string { return name }).To("out", str, str)
	topology.LeftJoinGlobal(orders, products, "maybe-product", productOf,
		func(order, p, name string, found bool) string { return fmt.Sprint(p, "=", name, " ", found) }).To("left-out", str, str)
	topo := build(t, b)
	if cg := topo.CopartitionGroups(); len(cg) != 0 {
		t.Fatalf("global joins need no co-partitioning, got %v", cg)
	}
	d := driver(t, topo, topologytest.Partitions(2))
	must(t, topologytest.Input(d, "products", str, str).Pipe("p1", "lamp", ms(0)))
	o := topologytest.Input(d, "orders", str, str)
	must(t, o.Pipe("o1", "p1", ms(1)))
	must(t, o.Pipe("o2", "p2", ms(2)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"o1", "lamp"}})
	wantKVs(t, readKVs(t, d, "left-out", str, str), []kv[string, string]{{"o1", "p1=lamp true"}, {"o2", "p2= false"}})
}

// streamJoins builds inner, left and outer joins of "l" and "r" within
// ±10ms, grace 0, writing "l/r" strings ("-" for a missing side).
func streamJoins(t testing.TB, w topology.JoinWindows) *topology.Topology {
	b := topology.New("app")
	l := topology.StreamOf(b, "l", str, str)
	r := topology.StreamOf(b, "r", str, str)
	topology.JoinStreams(l, r, "inner", w, func(_, a, b string) string { return a + "/" + b }, str, str, str).
		To("inner", str, str)
	topology.LeftJoinStreams(l, r, "left", w, func(_, a, b string, found bool) string {
		if !found {
			b = "-"
		}
		return a + "/" + b
	}, str, str, str).To("left", str, str)
	topology.OuterJoinStreams(l, r, "outer", w, func(_ string, a, b *string) string {
		s := func(p *string) string {
			if p == nil {
				return "-"
			}
			return *p
		}
		return s(a) + "/" + s(b)
	}, str, str, str).To("outer", str, str)
	return build(t, b)
}

// joinedReader returns a function reading the records not read yet.
func joinedReader(t testing.TB, d *topologytest.Driver) func(topic string) []string {
	outs := map[string]*topologytest.OutputTopic[string, string]{}
	return func(topic string) []string {
		t.Helper()
		if outs[topic] == nil {
			outs[topic] = topologytest.Output(d, topic, str, str)
		}
		return joinedStrings(t, outs[topic])
	}
}

func joinedStrings(t testing.TB, o *topologytest.OutputTopic[string, string]) []string {
	rs, err := o.ReadAll()
	must(t, err)
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s:%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli()))
	}
	return out
}

func TestStreamStreamJoinWindowEdgesAndNullSides(t *testing.T) {
	d := driver(t, streamJoins(t, topology.JoinWithin(10*time.Millisecond).Grace(0)))
	l := topologytest.Input(d, "l", str, str)
	r := topologytest.Input(d, "r", str, str)
	joined := joinedReader(t, d)
	must(t, l.Pipe("a", "L100", ms(100)))
	must(t, r.Pipe("a", "R110", ms(110))) // 100+10: inclusive, joins
	must(t, r.Pipe("a", "R111", ms(111))) // L100's window closed at 111: no join
	must(t, r.Pipe("b", "Rb", ms(111)))   // another key: never joins
	must(t, l.Pipe("a", "L121", ms(121))) // 111+10: joins R111 (R110 closed at 121)
	wantStrings(t, joined("inner"), []string{"a:L100/R110@110", "a:L121/R111@121"})
	must(t, l.Pipe("z", "Lz", ms(200))) // closes everything above
	wantStrings(t, joined("inner"), nil)
	// Left: L100 and L121 joined, so no null rows for them; only Lz waits.
	wantStrings(t, joined("left"), []string{"a:L100/R110@110", "a:L121/R111@121"})
	// Outer: unjoined right records come out when their windows close,
	// stamped with their own time.
	wantStrings(t, joined("outer"), []string{"a:L100/R110@110", "a:L121/R111@121", "b:-/Rb@111"})
	must(t, l.Pipe("z", "Lz2", ms(211)))
	wantStrings(t, joined("left"), []string{"z:Lz/-@200"})
	wantStrings(t, joined("outer"), []string{"z:Lz/-@200"})
}

func TestStreamStreamJoinBeforeAfterAndLate(t *testing.T) {
	b := topology.New("app")
	w := topology.JoinBetween(5*time.Millisecond, 0).Grace(3 * time.Millisecond).LateTo("late")
	topology.JoinStreams(topology.StreamOf(b, "l", str, str), topology.StreamOf(b, "r", str, str), "j", w,
		func(_, a, b string) string { return a + "/" + b }, str, str, str).To("out", str, str)
	d := driver(t, build(t, b))
	l := topologytest.Input(d, "l", str, str)
	r := topologytest.Input(d, "r", str, str)
	must(t, r.Pipe("a", "R95", ms(95)))
	must(t, r.Pipe("a", "R101", ms(101)))
	must(t, l.Pipe("a", "L100", ms(100))) // joins right records in [95, 100]
	// Stream time 101: L98's window [93,98] closes at 98+0+1+3 = 102, open.
	must(t, l.Pipe("a", "L98", ms(98)))
	must(t, r.Pipe("x", "Rx", ms(102)))
	must(t, l.Pipe("a", "L97", ms(97))) // 97+1+3 <= 102: late
	wantStrings(t, joinedReader(t, d)("out"), []string{"a:L100/R95@100", "a:L98/R95@98"})
	if late := d.Stats().Late; late != 1 {
		t.Fatalf("Late = %d, want 1", late)
	}
	if lr := d.Outputs("late"); len(lr) != 1 || string(lr[0].Value) != "L97" {
		t.Fatalf("late topic %+v", lr)
	}
}

func TestStreamStreamJoinNeedsGrace(t *testing.T) {
	b := topology.New("app")
	topology.JoinStreams(topology.StreamOf(b, "l", str, str), topology.StreamOf(b, "r", str, str), "j",
		topology.JoinWithin(time.Second), func(_, a, b string) string { return a + b }, str, str, str)
	if _, err := b.Build(); !errors.Is(err, topology.ErrBadWindow) || !strings.Contains(err.Error(), "call .Grace(d)") {
		t.Fatalf("Build: %v", err)
	}
}

func TestStreamStreamJoinRepartitionsReKeyedSide(t *testing.T) {
	b := topology.New("app")
	l := topology.SelectKey(topology.StreamOf(b, "l", str, str), "l-by-value", func(_, v string) string { return v })
	r := topology.StreamOf(b, "r", str, str)
	topology.JoinStreams(l, r, "j", topology.JoinWithin(time.Second).Grace(0),
		func(_, a, b string) string { return a + "/" + b }, str, str, str).To("out", str, str)
	topo := build(t, b)
	if cg := topo.CopartitionGroups(); len(cg) != 0 {
		t.Fatalf("copartition groups %v, want none", cg)
	}
	if its := topo.InternalTopics(); its[0].Name != "app-j-left-repartition" || !reflect.DeepEqual(its[0].PartitionsFrom, []string{"r"}) {
		t.Fatalf("internal topics %+v, want app-j-left-repartition sized from r", its)
	}
	d := driver(t, topo, topologytest.Partitions(4))
	must(t, topologytest.Input(d, "l", str, str).Pipe("ignored", "k", ms(1)))
	must(t, topologytest.Input(d, "r", str, str).Pipe("k", "R", ms(2)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"k", "k/R"}})
}

func TestTableTableJoins(t *testing.T) {
	b := topology.New("app")
	l := topology.TableOf(b, "l", str, str)
	r := topology.TableOf(b, "r", str, str)
	topology.JoinTables(l, r, "inner", func(_, a, b string) string { return a + "/" + b }, str).To("inner", str, str)
	topology.LeftJoinTables(l, r, "left", func(_, a, b string, found bool) string {
		if !found {
			b = "-"
		}
		return a + "/" + b
	}, str).To("left", str, str)
	topology.OuterJoinTables(l, r, "outer", func(_ string, a, b *string) string {
		s := func(p *string) string {
			if p == nil {
				return "-"
			}
			return *p
		}
		return s(a) + "/" + s(b)
	}, str).To("outer", str, str)
	topo := build(t, b)
	if n := len(topo.Subtopologies()); n != 1 {
		t.Fatalf("%d sub-topologies, want 1", n)
	}
	d := driver(t, topo)
	li := topologytest.Input(d, "l", str, str)
	ri := topologytest.Input(d, "r", str, str)
	must(t, li.Pipe("k", "a", ms(1)))
	must(t, ri.Pipe("k", "x", ms(2)))
	must(t, li.Pipe("k", "b", ms(3)))
	must(t, ri.PipeTombstone("k", ms(4)))
	must(t, li.PipeTombstone("k", ms(5)))
	must(t, ri.Pipe("j", "y", ms(6)))
	must(t, ri.PipeTombstone("j", ms(7)))

	rows := func(topic string) []string {
		rs, err := topologytest.Output(d, topic, str, str).ReadAll()
		must(t, err)
		var out []string
		for _, r := range rs {
			v := r.Value
			if r.Tombstone {
				v = "nil"
			}
			out = append(out, r.Key+"="+v)
		}
		return out
	}
	wantStrings(t, rows("inner"), []string{"k=a/x", "k=b/x", "k=nil"})
	wantStrings(t, rows("left"), []string{"k=a/-", "k=a/x", "k=b/x", "k=b/-", "k=nil"})
	wantStrings(t, rows("outer"), []string{"k=a/-", "k=a/x", "k=b/x", "k=b/-", "k=nil", "j=-/y", "j=nil"})
	st, err := topologytest.KV(d, "outer", str, str)
	must(t, err)
	if all, err := st.All(); err != nil || len(all) != 0 {
		t.Fatalf("outer store after deletes %v %v, want empty", all, err)
	}
}

func TestJoiningWindowedTableIsABuildError(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	counts := topology.GroupByKey(s, str, str).WindowedBy(topology.Tumbling(time.Second).Grace(0)).Count("c")
	topology.JoinTables(counts, counts, "self", func(_ topology.Windowed[string], a, b int64) int64 { return a + b }, i64)
	if _, err := b.Build(); !errors.Is(err, topology.ErrBadOption) {
		t.Fatalf("Build: %v", err)
	}
}

func TestStreamGlobalJoinSeesUpdatesAndDeletes(t *testing.T) {
	b := topology.New("app")
	products := topology.GlobalTableOf(b, "products", str, str)
	topology.JoinGlobal(topology.StreamOf(b, "orders", str, str), products, "named",
		func(_, p string) string { return p }, func(_, _, name string) string { return name }).To("out", str, str)
	d := driver(t, build(t, b))
	p := topologytest.Input(d, "products", str, str)
	o := topologytest.Input(d, "orders", str, str)
	must(t, p.Pipe("p1", "lamp", ms(0)))
	must(t, o.Pipe("o1", "p1", ms(1)))
	must(t, p.Pipe("p1", "desk lamp", ms(2)))
	must(t, o.Pipe("o2", "p1", ms(3)))
	must(t, p.PipeTombstone("p1", ms(4)))
	must(t, o.Pipe("o3", "p1", ms(5)))
	wantKVs(t, readKVs(t, d, "out", str, str), []kv[string, string]{{"o1", "lamp"}, {"o2", "desk lamp"}})
}

// A processor reading a table's store meets the table's records by key,
// in one task per partition: the topics must be co-partitioned, as for a
// join. CopartitionGroups used to leave them out.
func TestExistingStoreOfATableIsCopartitioned(t *testing.T) {
	b := topology.New("app")
	users := topology.TableOf(b, "users", str, str)
	clicks := topology.StreamOf(b, "clicks", str, str)
	topology.Process(clicks, "lookup", func() topology.Processor[string, string, string, string] {
		return topology.ProcessorFunc[string, string, string, string](func(ctx *topology.Context[string, string], k, v string) error {
			return ctx.Forward(k, v)
		})
	}, topology.ExistingStore(users.Store())).To("out", str, str)
	topo := build(t, b)
	if cg := topo.CopartitionGroups(); !reflect.DeepEqual(cg, [][]string{{"clicks", "users"}}) {
		t.Fatalf("co-partition groups %v, want [[clicks users]]", cg)
	}
	// A join over the same topics lists them once, not twice.
	b = topology.New("app")
	users = topology.TableOf(b, "users", str, str)
	clicks = topology.StreamOf(b, "clicks", str, str)
	topology.JoinTable(clicks, users, "j", func(_ string, c, u string) string { return u }).To("out", str, str)
	if cg := build(t, b).CopartitionGroups(); !reflect.DeepEqual(cg, [][]string{{"clicks", "users"}}) {
		t.Fatalf("co-partition groups %v, want [[clicks users]]", cg)
	}
}
