package topology_test

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// The README's "Writing a topology" quotes the bodies of buildShop and
// testShop verbatim; TestREADMEQuotesCompiledCode keeps them in step.

// buildShop is a topology with a filter, a map, a stream-table join, a
// windowed count and sinks.
func buildShop() (*topology.Topology, error) {
	b := topology.New("shop")
	views := topology.StreamOf(b, "page_views", codec.String(), codec.JSON[PageView]()) // keyed by user
	users := topology.TableOf(b, "users", codec.String(), codec.String())               // user -> name

	humans := views.Filter("humans", func(_ string, v PageView) bool { return !v.Bot })

	// Stream-table join: each view sees the user's name as of its time.
	named := topology.JoinTable(humans, users, "with-name",
		func(_ string, v PageView, name string) string { return name + " viewed " + v.Page })
	named.To("named_views", codec.String(), codec.String())

	// Re-key by page (a repartition follows), then count per minute,
	// emitting each minute once it closes (10s grace for late views).
	byPage := topology.Map(humans, "by-page", func(user string, v PageView) (string, string) { return v.Page, user })
	topology.GroupByKey(byPage, codec.String(), codec.String()).
		WindowedBy(topology.Tumbling(time.Minute).Grace(10*time.Second).EmitFinal()).
		Count("views-per-minute").
		ToStream("minute-counts").
		To("views_per_minute", topology.WindowedSerde(codec.String()), codec.Int64())

	return b.Build()
}

// testShop drives buildShop's topology with no Kafka, on the same task
// code as production, and returns what it wrote.
func testShop(topo *topology.Topology) ([]string, error) {
	d, err := topologytest.New(topo)
	if err != nil {
		return nil, err
	}
	users := topologytest.Input(d, "users", codec.String(), codec.String())
	views := topologytest.Input(d, "page_views", codec.String(), codec.JSON[PageView]())
	at := func(s int) time.Time { return time.Date(2026, 11, 1, 12, 0, s, 0, time.UTC) }
	for _, err := range []error{
		users.Pipe("ann", "Ann", at(0)),
		users.Pipe("bob", "Bob", at(0)),
		views.Pipe("ann", PageView{User: "ann", Page: "/home"}, at(5)),
		views.Pipe("bot7", PageView{User: "bot7", Page: "/home", Bot: true}, at(20)),
		views.Pipe("bob", PageView{User: "bob", Page: "/cart"}, at(40)),
		views.Pipe("bob", PageView{User: "bob", Page: "/home"}, at(50)),
		views.Pipe("ann", PageView{User: "ann", Page: "/home"}, at(75)), // closes 12:00 at 12:01:10
		d.PipeRaw("page_views", []byte("eve"), []byte("{oops"), at(76)), // not JSON: dead-lettered
	} {
		if err != nil {
			return nil, err
		}
	}
	var lines []string
	named, err := topologytest.Output(d, "named_views", codec.String(), codec.String()).ReadAll()
	if err != nil {
		return nil, err
	}
	for _, r := range named {
		lines = append(lines, r.Value)
	}
	counts, err := topologytest.Output(d, "views_per_minute",
		topology.WindowedSerde(codec.String()), codec.Int64()).ReadAll()
	if err != nil {
		return nil, err
	}
	for _, r := range counts {
		lines = append(lines, fmt.Sprintf("%s %s-%s: %d",
			r.Key.Key, r.Key.Start.Format("15:04"), r.Key.End.Format("15:04"), r.Value))
	}
	for _, r := range d.DeadLetters() { // original bytes, plus weir.* headers naming the error
		lines = append(lines, fmt.Sprintf("dead letter %s: %q", r.Key, r.Value))
	}
	return lines, nil
}

// The README's "Writing a topology": build the program, test it with the
// driver.
func Example_writingATopology() {
	topo, err := buildShop()
	if err != nil {
		fmt.Println(err)
		return
	}
	lines, err := testShop(topo)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// Ann viewed /home
	// Bob viewed /cart
	// Bob viewed /home
	// Ann viewed /home
	// /cart 12:00-12:01: 1
	// /home 12:00-12:01: 2
	// dead letter eve: "{oops"
}
