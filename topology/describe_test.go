package topology_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirstream/weir/topology"
)

// Golden files: go test ./topology -run TestDescribe -rewrite
var describeTopologies = map[string]func() *topology.Builder{
	"wordcount": func() *topology.Builder {
		b := topology.New("wc")
		lines := topology.StreamOf(b, "lines", str, str)
		words := topology.FlatMapValues(lines, "split", func(_, l string) []string { return strings.Fields(l) })
		topology.GroupBy(words, "by-word", func(_, w string) string { return w }, str, str).
			Count("word-counts").ToStream("count-stream").To("counts", str, i64)
		return b
	},
	"tables": func() *topology.Builder {
		b := topology.New("shop")
		topology.GlobalTableOf(b, "products", str, str)
		users := topology.TableOf(b, "users", str, str, topology.WithStoreName("users-by-id"))
		g := topology.GroupTableBy(users, "by-region", func(u, r string) (string, string) { return r, u }, str, str)
		g.Count("region-counts").To("region-counts", str, i64)
		return b
	},
	"processor": func() *topology.Builder {
		b := topology.New("p")
		in := topology.StreamOf(b, "events", str, str)
		br := in.Branch("split", func(k, v string) bool { return v == "" }, func(string, string) bool { return true })
		out := topology.Process(br[1], "remember", func() topology.Processor[string, string, string, string] {
			return topology.ProcessorFunc[string, string, string, string](nil)
		}, topology.KeyValueStore("memory"))
		out.Merge("all", br[0]).To("out", str, str)
		topology.Process(topology.StreamOf(b, "queries", str, str), "answer", func() topology.Processor[string, string, string, string] {
			return topology.ProcessorFunc[string, string, string, string](nil)
		}, topology.ExistingStore("memory")).To("answers", str, str)
		topology.GroupByKey(out, str, str).Count("after-process")
		return b
	},
	"windows": func() *topology.Builder {
		b := topology.New("win")
		views := topology.StreamOf(b, "views", str, str)
		g := topology.GroupByKey(views, str, str)
		g.WindowedBy(topology.Tumbling(5*time.Minute).Grace(time.Minute).LateTo("late-views")).
			Count("views-5m").To("views-5m", topology.WindowedSerde(str), i64)
		g.WindowedBy(topology.Hopping(time.Hour, 10*time.Minute).Grace(0).EmitFinal()).Count("views-1h")
		g.WindowedBy(topology.Sliding(time.Minute).Grace(0)).Reduce("latest", func(_, v string) (string, error) { return v, nil })
		topology.AggregateWindowed(g.WindowedBy(topology.Session(30*time.Minute).Grace(0)), "visits",
			func() int64 { return 0 }, func(_, _ string, n int64) (int64, error) { return n + 1, nil },
			func(_ string, a, b int64) (int64, error) { return a + b, nil }, i64)
		return b
	},
	"joins": func() *topology.Builder {
		b := topology.New("j")
		clicks := topology.StreamOf(b, "clicks", str, str)
		users := topology.TableOf(b, "users", str, str)
		products := topology.GlobalTableOf(b, "products", str, str)
		enriched := topology.JoinTable(clicks, users, "with-user", func(_, c, u string) string { return u + c })
		topology.LeftJoinGlobal(enriched, products, "with-product", func(_, v string) string { return v },
			func(_, v, p string, _ bool) string { return v + p }).To("enriched", str, str)
		orders := topology.SelectKey(topology.StreamOf(b, "orders", str, str), "by-user", func(_, u string) string { return u })
		topology.OuterJoinStreams(clicks, orders, "click-then-order", topology.JoinBetween(0, time.Hour).Grace(time.Minute),
			func(_ string, c, o *string) string { return "" }, str, str, str).To("conversions", str, str)
		carts := topology.TableOf(b, "carts", str, str)
		topology.LeftJoinTables(users, carts, "user-carts", func(_, u, c string, _ bool) string { return u + c }, str)
		return b
	},
	"broken": func() *topology.Builder {
		b := topology.New("")
		s := topology.StreamOf(b, "in", str, str)
		topology.StreamOf(b, "in", str, str)
		s.Filter("", nil)
		topology.Process(s, "p", func() topology.Processor[string, string, string, string] { return nil },
			topology.ExistingStore("ghost"), topology.KeyValueStore("dup"), topology.KeyValueStore("dup"))
		return b
	},
}

func TestDescribe(t *testing.T) {
	datadriven.RunTest(t, "../testdata/topology/describe", func(t *testing.T, d *datadriven.TestData) string {
		var name string
		d.ScanArgs(t, "name", &name)
		mk, ok := describeTopologies[name]
		if !ok {
			d.Fatalf(t, "no topology %q", name)
		}
		topo, err := mk().Build()
		switch d.Cmd {
		case "describe":
			if err != nil {
				d.Fatalf(t, "build: %v", err)
			}
			return topo.Describe()
		case "metadata":
			if err != nil {
				d.Fatalf(t, "build: %v", err)
			}
			return metadata(topo)
		case "build-errors":
			if err == nil {
				d.Fatalf(t, "built")
			}
			var lines []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				lines = append(lines, e.Error())
			}
			return strings.Join(lines, "\n") + "\n"
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

func metadata(topo *topology.Topology) string {
	var sb strings.Builder
	for _, s := range topo.Subtopologies() {
		var stores []string
		for _, st := range s.Stores {
			x := fmt.Sprintf("{%s %s %s", st.Name, st.Kind, st.Changelog)
			if st.TTL > 0 {
				x += fmt.Sprintf(" ttl=%s expiry=%s", st.TTL, st.Expiry)
			}
			if st.ExpiryOf != "" {
				x += " expiry-of=" + st.ExpiryOf
			}
			if st.ErasedKeys {
				x += " erased-keys"
			}
			stores = append(stores, x+"}")
		}
		var sources []string
		for _, src := range s.Sources {
			x := fmt.Sprintf("{%s %v", src.Topic, src.Internal)
			if src.Erasures {
				x += " erasures"
			}
			sources = append(sources, x+"}")
		}
		fmt.Fprintf(&sb, "sub-topology %d: sources [%s] sinks %v stores [%s]\n", s.ID, strings.Join(sources, " "), s.Sinks, strings.Join(stores, " "))
	}
	for _, it := range topo.InternalTopics() {
		fmt.Fprintf(&sb, "internal %+v\n", it)
	}
	for _, g := range topo.GlobalTables() {
		fmt.Fprintf(&sb, "global %+v\n", g)
	}
	return sb.String()
}

// Describe must not depend on map iteration or anything else that varies.
func TestDescribeIsStable(t *testing.T) {
	names := make([]string, 0, len(describeTopologies))
	for n := range describeTopologies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		first, err := describeTopologies[n]().Build()
		if err != nil {
			if !errors.Is(err, topology.ErrNoName) && n != "broken" {
				t.Fatal(err)
			}
			continue
		}
		for i := 0; i < 20; i++ {
			again, err := describeTopologies[n]().Build()
			must(t, err)
			if again.Describe() != first.Describe() {
				t.Fatalf("%s: Describe changed between builds", n)
			}
		}
	}
}
