package profile_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// Per commit: each commit writes each changed customer once, with the
// model's profile as of that commit; versions strictly increase and the
// last is the customer's event count.
func TestPerCommitEmitsLatestProfileOncePerCommit(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	recs := profile.Generate(seed, 2000, profile.GenOptions{Customers: 40})
	d := newDriver(t, profile.PerCommit, topologytest.ManualCommit())
	out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)
	m := profilemodel.New()
	counts := map[string]int64{}
	every := 1 + int(seed%50)
	var all []events.ProfileUpdate
	commit := func() {
		mustT(t, d.Commit())
		ups := readUpdates(t, out)
		seen := map[string]bool{}
		for _, u := range ups {
			if seen[u.CustomerID] {
				t.Fatalf("seed %d: %s written twice in one commit", seed, u.CustomerID)
			}
			seen[u.CustomerID] = true
			if g, w := jsonOf(t, u), jsonOf(t, m.Latest[u.CustomerID]); g != w {
				t.Fatalf("seed %d: committed profile of %s:\n got %s\nwant %s", seed, u.CustomerID, g, w)
			}
		}
		all = append(all, ups...)
	}
	for i, r := range recs {
		pipe(t, d, r)
		m.Add(r)
		if r.IsEvent() {
			counts[r.Key]++
		}
		if got := readUpdates(t, out); len(got) != 0 {
			t.Fatalf("seed %d: %d updates written before a commit", seed, len(got))
		}
		if i%every == every-1 {
			commit()
		}
	}
	commit()
	checkVersions(t, seed, all, counts)
	compareTriggers(t, seed, readTriggers(t, d), modelTriggers(m))
}

// Malformed records go to the dead-letter topic and never count.
func TestMalformedRecordsNeverCount(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	recs := profile.Generate(seed, 1000, profile.GenOptions{Customers: 30})
	d := newDriver(t, profile.PerEvent)
	out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)
	m := profilemodel.New()
	counts := map[string]int64{}
	bad := 0
	for i, r := range recs {
		if r.IsEvent() && i%7 == 0 {
			k, _, err := r.Encode(serdes)
			mustT(t, err)
			mustT(t, d.PipeRaw(r.Topic, k, profile.Malformed(seed, i), r.Time))
			bad++
		}
		pipe(t, d, r)
		m.Add(r)
		if r.IsEvent() {
			counts[r.Key]++
		}
	}
	if got := len(d.DeadLetters()); got != bad {
		t.Fatalf("seed %d: %d dead letters, want %d", seed, got, bad)
	}
	ups := readUpdates(t, out)
	checkVersions(t, seed, ups, counts)
	checkStore(t, seed, d, m)
}

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

type scenario struct {
	t   *testing.T
	d   *topologytest.Driver
	out *topologytest.OutputTopic[string, events.ProfileUpdate]
	n   int
	// deleted lists the customers whose tombstones the updates topic got
	// (InactiveTTL, erasure), in order.
	deleted []string
}

func newScenario(t *testing.T) *scenario {
	return newScenarioWith(t, profile.Config{})
}

// newScenarioWith is newScenario with cfg (Serdes and Emit are set).
func newScenarioWith(t *testing.T, cfg profile.Config) *scenario {
	cfg.Serdes, cfg.Emit = serdes, profile.PerEvent
	topo, err := profile.Topology(cfg)
	mustT(t, err)
	d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
	mustT(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return &scenario{t: t, d: d, out: topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)}
}

func (s *scenario) pipe(r profile.Record) events.ProfileUpdate {
	s.t.Helper()
	pipe(s.t, s.d, r)
	rs, err := s.out.ReadAll()
	mustT(s.t, err)
	var ups []events.ProfileUpdate
	for _, u := range rs {
		switch {
		case u.Tombstone:
			s.deleted = append(s.deleted, u.Key)
		case u.Key != u.Value.CustomerID:
			s.t.Fatalf("update keyed %q holds customer %q", u.Key, u.Value.CustomerID)
		default:
			ups = append(ups, u.Value)
		}
	}
	if !r.IsEvent() {
		if len(ups) != 0 {
			s.t.Fatalf("a table record wrote %d updates", len(ups))
		}
		return events.ProfileUpdate{}
	}
	if len(ups) != 1 {
		s.t.Fatalf("an event wrote %d updates, want 1", len(ups))
	}
	return ups[0]
}

func (s *scenario) view(cust, product string, ts time.Time) events.ProfileUpdate {
	s.n++
	return s.pipe(profile.Record{Topic: events.TopicWebBrowsing, Key: cust, Time: ts, View: &events.PageView{
		Context: events.Context{EventID: fmt.Sprintf("v%d", s.n), EventTime: ts}, CustomerID: cust,
		PageType: events.PageProduct, ProductID: ptr(product), Category: ptr("shoes")}})
}

func (s *scenario) purchase(cust string, typ events.PurchaseEventType, product string, ts time.Time) events.ProfileUpdate {
	s.n++
	return s.pipe(profile.Record{Topic: events.TopicPurchaseEvents, Key: cust, Time: ts, Purchase: &events.PurchaseEvent{
		Context: events.Context{EventID: fmt.Sprintf("p%d", s.n), EventTime: ts}, CustomerID: cust, Type: typ,
		Items: []events.LineItem{{ProductID: product, Quantity: 1, UnitPriceCents: 500}}, TotalCents: 500}})
}

func TestUnknownCustomerFallbackThenLateRow(t *testing.T) {
	s := newScenario(t)
	p := s.view("c1", "p1", at(0))
	if p.Segment != profile.UnknownSegment || p.Country != profile.UnknownCountry || !p.Known || p.Version != 1 {
		t.Fatalf("before the customers row: %+v; want segment %q, country %q, known, version 1", p,
			profile.UnknownSegment, profile.UnknownCountry)
	}
	s.pipe(profile.Record{Topic: events.TopicCustomers, Key: "c1", Time: at(time.Second),
		Customer: &events.Customer{CustomerID: "c1", Segment: "vip", Country: "DE"}})
	p = s.view("c1", "p2", at(2*time.Second))
	if p.Segment != "vip" || p.Country != "DE" || p.Version != 2 {
		t.Fatalf("after the row: segment %q country %q version %d; want vip, DE, 2", p.Segment, p.Country, p.Version)
	}
	def := profile.Default("c9")
	want := events.ProfileUpdate{CustomerID: "c9", Segment: profile.UnknownSegment, Country: profile.UnknownCountry,
		RecentProducts: []string{}, TopCategories: []string{}, CartItems: []events.CartItem{}}
	if !reflect.DeepEqual(def, want) {
		t.Fatalf("Default: %+v, want %+v", def, want)
	}
}

// The purchase/view join: a view of the product up to exactly 30 minutes
// before the purchase counts, one 1ms earlier does not; a view processed
// after the purchase counts while stream time is within the purchase's
// time + grace, and then shows in the view's own version.
func TestAfterViewAtTheThirtyMinuteEdge(t *testing.T) {
	cases := []struct {
		name  string
		steps func(s *scenario) events.ProfileUpdate
		want  bool
	}{
		{"view exactly 30m before", func(s *scenario) events.ProfileUpdate {
			s.view("c", "p1", at(0))
			return s.purchase("c", events.Purchase, "p1", at(30*time.Minute))
		}, true},
		{"view 30m+1ms before", func(s *scenario) events.ProfileUpdate {
			s.view("c", "p1", at(0))
			return s.purchase("c", events.Purchase, "p1", at(30*time.Minute+time.Millisecond))
		}, false},
		{"view of another product", func(s *scenario) events.ProfileUpdate {
			s.view("c", "p2", at(0))
			return s.purchase("c", events.Purchase, "p1", at(time.Minute))
		}, false},
		{"view after the purchase in time", func(s *scenario) events.ProfileUpdate {
			s.purchase("c", events.Purchase, "p1", at(time.Minute))
			return s.view("c", "p1", at(time.Minute+time.Millisecond))
		}, false},
		{"earlier view processed later, within grace", func(s *scenario) events.ProfileUpdate {
			s.view("x", "p9", at(10*time.Minute))
			s.purchase("c", events.Purchase, "p1", at(10*time.Minute))
			s.view("x", "p9", at(11*time.Minute)) // stream time = purchase + grace
			return s.view("c", "p1", at(5*time.Minute))
		}, true},
		{"earlier view processed later, past grace", func(s *scenario) events.ProfileUpdate {
			s.purchase("c", events.Purchase, "p1", at(10*time.Minute))
			s.view("x", "p9", at(11*time.Minute+time.Millisecond))
			return s.view("c", "p1", at(5*time.Minute))
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.steps(newScenario(t))
			if p.LastPurchaseAfterView != tc.want {
				t.Fatalf("LastPurchaseAfterView = %v, want %v (profile %+v)", p.LastPurchaseAfterView, tc.want, p)
			}
		})
	}
}

func TestTriggersFireOnce(t *testing.T) {
	s := newScenario(t)
	for i := range 7 { // 5th view fires; 6th and 7th do not
		s.view("c", fmt.Sprintf("p%d", i), at(time.Duration(i)*time.Second))
	}
	s.view("c", "p1", at(5*time.Minute)) // next window
	s.purchase("c", events.AddToCart, "p1", at(5*time.Minute))
	s.view("other", "p1", at(35*time.Minute-time.Millisecond))
	if got := readTriggers(t, s.d); len(got) != 1 {
		t.Fatalf("before the cart deadline: triggers %v, want only high_intent", got)
	}
	s.view("other", "p1", at(35*time.Minute)) // stream time reaches the deadline
	s.view("other", "p2", at(36*time.Minute))
	got := readTriggers(t, s.d)
	want := []string{
		"c:cart_abandoned:9 c CART_ABANDONED fired=2026-11-03T10:35:00Z score=1 reason=\"cart idle for 30m0s\" cause=<nil> {cart_items=1,cart_value_cents=500}",
		"c:high_intent:5 c HIGH_INTENT fired=2026-11-03T10:00:04Z score=1 reason=\"5 views of shoes within 5 minutes\" cause=v5 {category=shoes,window_start=2026-11-03T10:00:00Z}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("triggers:\n got %q\nwant %q", got, want)
	}
}

// Config.CartIdle moves the cart deadline: with 45s, cart_abandoned fires
// when stream time reaches the last cart activity + 45s, not a moment
// before, and its reason names the configured time.
func TestCartIdleIsConfigurable(t *testing.T) {
	s := newScenarioWith(t, profile.Config{CartIdle: 45 * time.Second})
	s.purchase("c", events.AddToCart, "p1", at(10*time.Second))
	s.view("other", "p1", at(55*time.Second-time.Millisecond))
	if got := readTriggers(t, s.d); len(got) != 0 {
		t.Fatalf("before the 45s deadline: triggers %v, want none", got)
	}
	s.view("other", "p2", at(55*time.Second))
	got := readTriggers(t, s.d)
	want := []string{"c:cart_abandoned:1 c CART_ABANDONED fired=2026-11-03T10:00:55Z score=1 reason=\"cart idle for 45s\" cause=<nil> {cart_items=1,cart_value_cents=500}"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("triggers:\n got %q\nwant %q", got, want)
	}
	if _, err := profile.Topology(profile.Config{Serdes: serdes, CartIdle: -time.Second}); !errors.Is(err, profile.ErrConfig) {
		t.Fatalf("CartIdle -1s: err %v, want ErrConfig", err)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a := profile.Generate(7, 500, profile.GenOptions{})
	b := profile.Generate(7, 500, profile.GenOptions{})
	c := profile.Generate(8, 500, profile.GenOptions{})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different records")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 7 and 8 gave the same records")
	}
	var maxT time.Time
	ooo, late, events := 0, 0, 0
	for _, r := range a {
		if !r.IsEvent() {
			continue
		}
		events++
		switch behind := maxT.Sub(r.Time); {
		case behind > 6*time.Minute:
			late++
		case behind > 0:
			ooo++
		}
		if r.Time.After(maxT) {
			maxT = r.Time
		}
	}
	if events != 500 || ooo == 0 || late == 0 {
		t.Fatalf("%d events, %d out of order, %d late; want 500 with some of each", events, ooo, late)
	}
}

// A customers row and an event of the same customer never share a
// millisecond, even with events packed densely: which comes first would
// be a tie-break rule, not data.
func TestGenerateRowsNeverTieWithEvents(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	recs := profile.Generate(seed, 20000, profile.GenOptions{Customers: 20, MeanGap: time.Millisecond})
	events, rows := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		k := fmt.Sprintf("%s@%d", r.Key, r.Time.UnixMilli())
		switch {
		case r.IsEvent():
			events[k] = true
		case r.Customer != nil:
			rows[k] = true
		}
	}
	if len(rows) < 20 {
		t.Fatalf("seed %d: only %d customers rows", seed, len(rows))
	}
	for k := range rows {
		if events[k] {
			t.Fatalf("seed %d: a customers row and an event share %s", seed, k)
		}
	}
}
