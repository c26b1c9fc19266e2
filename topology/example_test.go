package topology_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

type PageView struct {
	User string `json:"user"`
	Page string `json:"page"`
	Bot  bool   `json:"bot"`
}

// Count human page views per page, and test it with the driver.
func Example() {
	// The program: page views keyed by user, counted per page.
	b := topology.New("pageviews")
	views := topology.StreamOf(b, "page_views", codec.String(), codec.JSON[PageView](),
		topology.OnBadInput(topology.DeadLetter))
	humans := views.Filter("humans", func(_ string, v PageView) bool { return !v.Bot })
	perPage := topology.GroupBy(humans, "by-page", func(_ string, v PageView) string { return v.Page },
		codec.String(), codec.JSON[PageView]())
	perPage.Count("views-per-page").ToStream("view-counts").To("page_view_counts", codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}

	// The test: pipe records in, read what came out.
	d, err := topologytest.New(topo)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := topologytest.Input(d, "page_views", codec.String(), codec.JSON[PageView]())
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range []PageView{
		{User: "ann", Page: "/home"},
		{User: "bot7", Page: "/home", Bot: true},
		{User: "bob", Page: "/cart"},
		{User: "bob", Page: "/home"},
	} {
		if err := in.Pipe(v.User, v, t0.Add(time.Duration(i)*time.Second)); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Not JSON: goes to the dead-letter topic, the rest carries on.
	if err := d.PipeRaw("page_views", []byte("eve"), []byte("{oops"), t0); err != nil {
		fmt.Println(err)
		return
	}

	out := topologytest.Output(d, "page_view_counts", codec.String(), codec.Int64())
	records, err := out.ReadAll()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range records {
		fmt.Printf("%s %d at %s\n", r.Key, r.Value, r.Timestamp.Format(time.TimeOnly))
	}
	fmt.Println("dead letters:", len(d.DeadLetters()))
	fmt.Println(strings.Split(topo.Describe(), "\n")[1])
	// Output:
	// /home 1 at 12:00:00
	// /cart 1 at 12:00:02
	// /home 2 at 12:00:03
	// dead letters: 1
	// Sub-topology 0
}
