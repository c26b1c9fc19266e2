package profile_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// The profile processor keeps changed profiles in a write-back cache and
// writes them to the store at each commit. Between commits the store
// (what a query of the driver's store reads) holds every profile as of
// the last commit or later, never older, and at each commit exactly the
// model's; that holds with the default bound and with a bound so small
// that the cache is written back in the middle of intervals.
func TestStoreBetweenCommitsNeverOlderThanLastCommit(t *testing.T) {
	for _, bound := range []int{0, 3} {
		t.Run(fmt.Sprintf("cached=%d", bound), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			recs := profile.Generate(seed, 1500, profile.GenOptions{Customers: 25})
			topo, err := profile.Topology(profile.Config{Serdes: serdes, CachedProfiles: bound})
			mustT(t, err)
			d, err := topologytest.New(topo, topologytest.ManualCommit(),
				topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
			mustT(t, err)
			t.Cleanup(func() { _ = d.Close() })
			kv, err := d.Store(profile.StoreProfiles)
			mustT(t, err)
			out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)
			m := profilemodel.New()
			committed := map[string]int64{} // version as of the last commit
			stored := func(id string) (events.ProfileUpdate, bool) {
				t.Helper()
				b, ok, err := kv.Get([]byte(id))
				mustT(t, err)
				if !ok {
					return events.ProfileUpdate{}, false
				}
				p, err := profile.DecodeStored(b)
				mustT(t, err)
				return p, true
			}
			every := 2 + int(seed%40)
			wroteEarly := false
			for i, r := range recs {
				pipe(t, d, r)
				m.Add(r)
				for id, want := range m.Latest {
					got, ok := stored(id)
					if !ok && committed[id] > 0 || got.Version < committed[id] {
						t.Fatalf("seed %d, record %d: store has %s at version %d, older than its last commit (%d)",
							seed, i, id, got.Version, committed[id])
					}
					if got.Version > want.Version {
						t.Fatalf("seed %d, record %d: store has %s at version %d, ahead of the model (%d)",
							seed, i, id, got.Version, want.Version)
					}
					if got.Version > committed[id] {
						wroteEarly = true
					}
				}
				if i%every != every-1 && i != len(recs)-1 {
					continue
				}
				mustT(t, d.Commit())
				for _, u := range readUpdates(t, out) {
					if g, w := jsonOf(t, u), jsonOf(t, m.Latest[u.CustomerID]); g != w {
						t.Fatalf("seed %d: committed profile of %s:\n got %s\nwant %s", seed, u.CustomerID, g, w)
					}
				}
				for id, want := range m.Latest {
					got, _ := stored(id)
					if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
						t.Fatalf("seed %d: stored profile of %s after a commit:\n got %s\nwant %s", seed, id, g, w)
					}
					committed[id] = want.Version
				}
			}
			if bound > 0 && !wroteEarly {
				t.Errorf("seed %d: a cache of %d profiles never wrote one before its commit", seed, bound)
			}
			compareTriggers(t, seed, readTriggers(t, d), modelTriggers(m))
		})
	}
}

// cart_abandoned reads the profile being built, not the store: with no
// commit at all, the store has no profile of the customer, yet the
// trigger carries the cart as the events left it.
func TestCartTimerFiresOnCachedProfile(t *testing.T) {
	d := newDriver(t, profile.PerCommit, topologytest.ManualCommit())
	add := func(n int, product string, qty int32, ts time.Time) {
		pipe(t, d, profile.Record{Topic: events.TopicPurchaseEvents, Key: "c1", Time: ts, Purchase: &events.PurchaseEvent{
			Context: events.Context{EventID: fmt.Sprintf("a%d", n), EventTime: ts}, CustomerID: "c1", Type: events.AddToCart,
			Items: []events.LineItem{{ProductID: product, Quantity: qty, UnitPriceCents: 250}}}})
	}
	add(1, "p1", 1, at(0))
	add(2, "p2", 2, at(time.Minute))
	pipe(t, d, profile.Record{Topic: events.TopicWebBrowsing, Key: "c2", Time: at(40 * time.Minute), View: &events.PageView{
		Context: events.Context{EventID: "v1", EventTime: at(40 * time.Minute)}, CustomerID: "c2", PageType: events.PageHome}})
	kv, err := d.Store(profile.StoreProfiles)
	mustT(t, err)
	if _, ok, err := kv.Get([]byte("c1")); err != nil || ok {
		t.Fatalf("before any commit the store has c1's profile (%v, %v): the test no longer exercises the cache", ok, err)
	}
	rs, err := topologytest.Output(d, events.TopicTriggers, serdes.Key, serdes.Trigger).ReadAll()
	mustT(t, err)
	if len(rs) != 1 {
		t.Fatalf("%d triggers, want c1's cart_abandoned: %+v", len(rs), rs)
	}
	tr := rs[0].Value
	want := profile.TriggerID("c1", events.CartAbandoned, 2)
	if tr.TriggerID != want || tr.Attributes["cart_items"] != "2" || tr.Attributes["cart_value_cents"] != "750" {
		t.Fatalf("trigger %s %v; want %s with 2 items worth 750 cents", tr.TriggerID, tr.Attributes, want)
	}
	if !tr.FiredAt.Equal(at(40 * time.Minute)) {
		t.Fatalf("fired at %s, want the stream time that reached the deadline", tr.FiredAt)
	}
}

// coreStores are a task's stores as the runtime gives them: a pending
// overlay (the uncommitted interval) over committed state, and the
// global catalog.
type coreStores struct {
	pending map[string]*state.Pending
	globals map[string]state.KeyValueStore
}

func (s coreStores) KeyValue(name string) (state.KeyValueStore, error) {
	if g, ok := s.globals[name]; ok {
		return g, nil
	}
	if p, ok := s.pending[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no store %q", name)
}

// A task core rewound after an abort, as processor does: its uncommitted
// writes are dropped and a new core is made over the committed state.
// Profiles the old core had cached and changed (whether or not a commit
// hook had written them to the dropped overlay) must not leak into the
// new core, and what a commit hook wrote must be what is committed: the
// replayed interval gives the model's profiles and triggers, once.
func TestRewindDropsCachedProfiles(t *testing.T) {
	for _, hookFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("hook-before-abort=%v", hookFirst), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			recs := profile.Generate(seed, 1500, profile.GenOptions{Customers: 30})
			topo, err := profile.Topology(profile.Config{Serdes: serdes})
			mustT(t, err)
			if n := len(topo.Subtopologies()); n != 1 {
				t.Fatalf("%d sub-topologies; the test drives one task", n)
			}
			st := coreStores{pending: map[string]*state.Pending{}, globals: map[string]state.KeyValueStore{}}
			catalog := map[string]string{} // topic -> store
			for _, g := range topo.GlobalTables() {
				st.globals[g.Store] = state.NewMemory()
				catalog[g.Topic] = g.Store
			}
			for _, s := range topo.Subtopologies()[0].Stores {
				st.pending[s.Name] = state.NewPending(state.NewMemory())
			}
			id := topology.TaskID{}
			newCore := func() *topology.Task {
				core, err := topo.NewTask(id, st, topology.DefaultBadInput(topology.DeadLetter))
				mustT(t, err)
				return core
			}
			offsets := map[string]int64{}
			var triggers []string
			feed := func(core *topology.Task, rs []profile.Record) {
				t.Helper()
				for _, r := range rs {
					k, v, err := r.Encode(serdes)
					mustT(t, err)
					if s, ok := catalog[r.Topic]; ok {
						mustT(t, st.globals[s].Put(k, v))
						continue
					}
					mustT(t, core.Add(topology.Record{Topic: r.Topic, Offset: offsets[r.Topic], Key: k, Value: v, Timestamp: r.Time}))
					offsets[r.Topic]++
					for {
						ok, err := core.Process(context.Background())
						mustT(t, err)
						if !ok {
							break
						}
					}
				}
			}
			// commit runs the hooks, takes the outputs and applies the
			// overlay to the committed state, as a committed transaction.
			commit := func(core *topology.Task) map[string]events.ProfileUpdate {
				t.Helper()
				mustT(t, core.Commit())
				ups := map[string]events.ProfileUpdate{}
				for _, o := range core.TakeOutputs() {
					switch o.Topic {
					case events.TopicProfileUpdates:
						u, err := serdes.Update.Decode(o.Topic, o.Value)
						mustT(t, err)
						ups[u.CustomerID] = u
					case events.TopicTriggers:
						tr, err := serdes.Trigger.Decode(o.Topic, o.Value)
						mustT(t, err)
						triggers = append(triggers, profilemodel.TriggerString(tr))
					}
				}
				for _, p := range st.pending {
					for _, r := range p.RangeDeletes() {
						mustT(t, p.Base().DeleteRange(r.Start, r.End))
					}
					mustT(t, p.EachPoint(func(k, v []byte, tomb bool) error {
						k = append([]byte(nil), k...)
						if tomb {
							return p.Base().Delete(k)
						}
						return p.Base().Put(k, append([]byte{}, v...))
					}))
					p.Reset()
				}
				return ups
			}
			a, b := recs[:500], recs[500:1000]
			core := newCore()
			feed(core, a)
			commit(core)
			// The interval of b is processed (and, with hookFirst, its
			// commit hook has written the cache to the overlay, as a
			// pipelined commit does), then the transaction aborts.
			feed(core, b)
			if hookFirst {
				mustT(t, core.Commit())
			}
			for _, p := range st.pending {
				p.Reset()
			}
			mustT(t, core.Close())
			offsets = map[string]int64{}
			for _, r := range a {
				if _, ok := catalog[r.Topic]; !ok {
					offsets[r.Topic]++
				}
			}
			core = newCore()
			feed(core, append(append([]profile.Record(nil), b...), recs[1000:]...))
			ups := commit(core)

			m := profilemodel.New()
			for _, r := range recs {
				m.Add(r)
			}
			changed := map[string]bool{}
			for _, r := range recs[500:] {
				if r.IsEvent() {
					changed[r.Key] = true
				}
			}
			if len(ups) != len(changed) {
				t.Errorf("seed %d: last commit updated %d customers, want %d", seed, len(ups), len(changed))
			}
			for id := range changed {
				if g, w := jsonOf(t, ups[id]), jsonOf(t, m.Latest[id]); g != w {
					t.Errorf("seed %d: committed update of %s:\n got %s\nwant %s", seed, id, g, w)
				}
			}
			checkProfiles(t, seed, st.pending[profile.StoreProfiles].Base(), m) // what was committed
			compareTriggers(t, seed, sortedCopy(triggers), modelTriggers(m))
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
