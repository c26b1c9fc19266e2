package profile_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

func ttlScenario(t *testing.T, cfg profile.Config, opts ...topologytest.Opt) *scenario {
	cfg.Serdes = serdes
	topo, err := profile.Topology(cfg)
	mustT(t, err)
	opts = append([]topologytest.Opt{topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)), topologytest.Changelogs()}, opts...)
	d, err := topologytest.New(topo, opts...)
	mustT(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return &scenario{t: t, d: d, out: topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)}
}

// homeView pipes a home page view of cust at ts, not reading the output
// (a per-commit pipeline writes it at the commit).
func (s *scenario) homeView(cust string, ts time.Time) {
	s.t.Helper()
	s.n++
	pipe(s.t, s.d, profile.Record{Topic: events.TopicWebBrowsing, Key: cust, Time: ts, View: &events.PageView{
		Context: events.Context{EventID: fmt.Sprintf("v%d", s.n), EventTime: ts}, CustomerID: cust,
		PageType: events.PageHome}})
}

// tombstones lists the customers deleted on the profile output, in order.
func (s *scenario) tombstones() []string {
	var out []string
	for _, o := range s.d.Outputs(events.TopicProfileUpdates) {
		if o.Value == nil {
			out = append(out, string(o.Key))
		}
	}
	return out
}

func (s *scenario) stored(cust string) (events.ProfileUpdate, bool) {
	s.t.Helper()
	kv, err := s.d.Store(profile.StoreProfiles)
	mustT(s.t, err)
	b, ok, err := kv.Get([]byte(cust))
	mustT(s.t, err)
	if !ok {
		return events.ProfileUpdate{}, false
	}
	p, err := profile.DecodeStored(b)
	mustT(s.t, err)
	return p, true
}

func TestInactiveCustomerIsForgottenAndReturnsWithAHigherVersion(t *testing.T) {
	s := ttlScenario(t, profile.Config{InactiveTTL: time.Hour, Emit: profile.PerEvent})
	first := s.view("c1", "p1", at(0))
	if want := t0.UnixMilli()*1000 + 1; first.Version != want {
		t.Fatalf("first version %d, want creation stream time ms × 1000 + 1 = %d", first.Version, want)
	}
	s.view("c1", "p2", at(time.Minute)) // refreshes c1 to 1m
	s.view("c2", "p1", at(time.Hour+time.Minute-time.Millisecond))
	if _, ok := s.stored("c1"); !ok {
		t.Fatal("c1 gone 1ms before its TTL")
	}
	s.view("c2", "p1", at(time.Hour+time.Minute))
	if p, ok := s.stored("c1"); ok {
		t.Fatalf("c1 idle for InactiveTTL is still stored: %+v", p)
	}
	tomb := false
	for _, o := range s.d.Outputs("weir-profiles-" + profile.StoreProfiles + "-changelog") {
		if string(o.Key) == "c1" && o.Value == nil {
			tomb = true
		}
	}
	if !tomb {
		t.Fatal("no changelog tombstone for the expired profile")
	}
	// And on the compacted output: its consumers drop c1 too.
	if !slices.Equal(s.deleted, []string{"c1"}) {
		t.Fatalf("profile update tombstones %v, want c1's", s.deleted)
	}
	mustT(t, s.d.RestoreFromChangelogs())
	if _, ok := s.stored("c1"); ok {
		t.Fatal("a restore from the changelogs brought c1 back")
	}
	back := s.view("c1", "p3", at(2*time.Hour))
	if back.ViewsTotal != 1 || len(back.RecentProducts) != 1 {
		t.Fatalf("returning customer: %d views, recent %v; want a new profile", back.ViewsTotal, back.RecentProducts)
	}
	if back.Version <= first.Version+1 {
		t.Fatalf("returning customer's version %d is not above the expired profile's %d", back.Version, first.Version+1)
	}
}

// The profile store is stamped with each profile's last event, not with
// the commit that wrote it back: expiry does not depend on commit timing.
func TestInactiveTTLCountsFromLastEventNotFromCommit(t *testing.T) {
	s := ttlScenario(t, profile.Config{InactiveTTL: time.Hour, Emit: profile.PerCommit}, topologytest.ManualCommit())
	s.homeView("c1", at(0))
	s.homeView("c2", at(59*time.Minute))
	mustT(t, s.d.Commit()) // c1 written back at stream time 59m
	s.homeView("c2", at(time.Hour))
	mustT(t, s.d.Commit())
	if _, ok := s.stored("c1"); ok {
		t.Fatal("c1 outlived its last event + InactiveTTL because of when it was written back")
	}
	// Expired while cached and dirty: never written back.
	s.homeView("c3", at(2*time.Hour))
	s.homeView("c4", at(3*time.Hour))
	mustT(t, s.d.Commit())
	if _, ok := s.stored("c3"); ok {
		t.Fatal("c3, expired before its commit, was written back")
	}
}

func TestCartTimerOfExpiredCustomerDoesNotFire(t *testing.T) {
	// The shortest TTL allowed equals the cart idle time: the profile and
	// its timer fall due at the same record, the profile goes first (before
	// the record), and the timer finds nothing to fire for.
	s := ttlScenario(t, profile.Config{InactiveTTL: 15 * time.Minute, CartIdle: 15 * time.Minute, Emit: profile.PerEvent})
	s.purchase("c", events.AddToCart, "p1", at(0)) // timer at 15m
	s.view("other", "p1", at(15*time.Minute))      // c forgotten; its timer due
	if got := readTriggers(t, s.d); len(got) != 0 {
		t.Fatalf("the expired profile's cart timer fired: %v", got)
	}
	// A customer active within InactiveTTL gets cart_abandoned as before.
	s.purchase("d", events.AddToCart, "p1", at(16*time.Minute))
	s.view("d", "p1", at(25*time.Minute))
	s.view("other", "p1", at(31*time.Minute))
	got := readTriggers(t, s.d)
	if len(got) != 1 || !strings.HasPrefix(got[0], "d:cart_abandoned:") {
		t.Fatalf("triggers %v, want one cart_abandoned for d", got)
	}
}

func TestInactiveTTLValidated(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 500 * time.Microsecond, profile.CartIdle - time.Millisecond} {
		if _, err := profile.Topology(profile.Config{Serdes: serdes, InactiveTTL: d}); !errors.Is(err, profile.ErrConfig) {
			t.Errorf("InactiveTTL %v: err %v, want ErrConfig", d, err)
		}
	}
}

// The output gets a tombstone when a profile expires, but not when only
// the store's copy is old while the customer is active in the write-back
// cache: the commit writes the newer profile back.
func TestExpiryTombstoneOnlyForInactiveCustomers(t *testing.T) {
	s := ttlScenario(t, profile.Config{InactiveTTL: time.Hour, Emit: profile.PerCommit}, topologytest.ManualCommit())
	s.homeView("c1", at(0))
	mustT(t, s.d.Commit()) // c1 in the store, stamped 0
	s.homeView("c1", at(50*time.Minute))
	s.homeView("c2", at(61*time.Minute)) // the store's c1 expires; the cached one is active
	mustT(t, s.d.Commit())
	if got := s.tombstones(); len(got) != 0 {
		t.Fatalf("tombstones %v for a customer active since the last commit", got)
	}
	if _, ok := s.stored("c1"); !ok {
		t.Fatal("c1's newer profile was not written back")
	}
	s.homeView("c2", at(111*time.Minute)) // c1's last event was at 50m
	mustT(t, s.d.Commit())
	if got := s.tombstones(); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("tombstones %v, want c1's once it is idle for InactiveTTL", got)
	}
}

// The store's copy expires while the customer is active in the cache
// (no tombstone then), and the cached profile expires too before its
// commit: a stream time jump of more than InactiveTTL within one commit
// interval, common in a backfill. The output still gets one tombstone.
func TestExpiryTombstoneWhenTheActiveCopyExpiresBeforeItsCommit(t *testing.T) {
	for name, emit := range map[string]profile.EmitMode{"per event": profile.PerEvent, "per commit": profile.PerCommit} {
		t.Run(name, func(t *testing.T) {
			s := ttlScenario(t, profile.Config{InactiveTTL: time.Hour, Emit: emit}, topologytest.ManualCommit())
			s.homeView("c1", at(0))
			mustT(t, s.d.Commit()) // c1 on the output and in the store, stamped 0
			s.homeView("c1", at(50*time.Minute))
			s.homeView("c2", at(61*time.Minute))  // the store's c1 expires; the cached one is active
			s.homeView("c2", at(111*time.Minute)) // the cached c1 (50m) expires too
			mustT(t, s.d.Commit())
			if tombs := s.tombstones(); !slices.Equal(tombs, []string{"c1"}) {
				t.Fatalf("tombstones %v, want c1's once", tombs)
			}
			if _, ok := s.stored("c1"); ok {
				t.Fatal("c1, idle for InactiveTTL, is stored")
			}
		})
	}
}

// A new customer who expires before the first commit: published per
// event, so the output gets a tombstone; per commit it was never
// published, so there is nothing to delete.
func TestExpiryTombstoneForAProfileNeverWrittenBack(t *testing.T) {
	for name, tc := range map[string]struct {
		emit  profile.EmitMode
		tombs []string
	}{"per event": {profile.PerEvent, []string{"c1"}}, "per commit": {profile.PerCommit, nil}} {
		t.Run(name, func(t *testing.T) {
			s := ttlScenario(t, profile.Config{InactiveTTL: time.Hour, Emit: tc.emit}, topologytest.ManualCommit())
			s.homeView("c1", at(0))
			s.homeView("c2", at(61*time.Minute))
			mustT(t, s.d.Commit())
			if tombs := s.tombstones(); !slices.Equal(tombs, tc.tombs) {
				t.Fatalf("tombstones %v, want %v", tombs, tc.tombs)
			}
			if _, ok := s.stored("c1"); ok {
				t.Fatal("c1, idle for InactiveTTL, is stored")
			}
		})
	}
}
