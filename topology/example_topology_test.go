package topology_test

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// A topology with a filter, a map, a stream-table join, a windowed count
// and sinks, tested with the driver (the README's "Writing a topology").
func Example_writingATopology() {
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

	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}

	// The test: no Kafka, same task code as production.
	d, err := topologytest.New(topo)
	if err != nil {
		fmt.Println(err)
		return
	}
	pipe := topologytest.Input(d, "page_views", codec.String(), codec.JSON[PageView]())
	names := topologytest.Input(d, "users", codec.String(), codec.String())
	at := func(s int) time.Time { return time.Date(2026, 11, 1, 12, 0, s, 0, time.UTC) }
	steps := []error{
		names.Pipe("ann", "Ann", at(0)),
		names.Pipe("bob", "Bob", at(0)),
		pipe.Pipe("ann", PageView{User: "ann", Page: "/home"}, at(5)),
		pipe.Pipe("bot7", PageView{User: "bot7", Page: "/home", Bot: true}, at(20)),
		pipe.Pipe("bob", PageView{User: "bob", Page: "/cart"}, at(40)),
		pipe.Pipe("bob", PageView{User: "bob", Page: "/home"}, at(50)),
		pipe.Pipe("ann", PageView{User: "ann", Page: "/home"}, at(75)), // closes 12:00 at 12:01:10
	}
	for _, err := range steps {
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	namedViews, _ := topologytest.Output(d, "named_views", codec.String(), codec.String()).ReadAll()
	for _, r := range namedViews {
		fmt.Println(r.Value)
	}
	counts, _ := topologytest.Output(d, "views_per_minute", topology.WindowedSerde(codec.String()), codec.Int64()).ReadAll()
	for _, r := range counts {
		fmt.Printf("%s %s-%s: %d\n", r.Key.Key, r.Key.Start.Format("15:04"), r.Key.End.Format("15:04"), r.Value)
	}
	// Output:
	// Ann viewed /home
	// Bob viewed /cart
	// Bob viewed /home
	// Ann viewed /home
	// /cart 12:00-12:01: 1
	// /home 12:00-12:01: 2
}
