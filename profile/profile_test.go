package profile_test

import (
	"encoding/json"
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

var serdes = profile.JSONSerdes()

func mustT(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newDriver(t testing.TB, emit profile.EmitMode, opts ...topologytest.Opt) *topologytest.Driver {
	t.Helper()
	return newDriverWith(t, serdes, emit, opts...)
}

func newDriverWith(t testing.TB, sd profile.Serdes, emit profile.EmitMode, opts ...topologytest.Opt) *topologytest.Driver {
	t.Helper()
	return newDriverCfg(t, profile.Config{Serdes: sd, Emit: emit}, opts...)
}

func newDriverCfg(t testing.TB, cfg profile.Config, opts ...topologytest.Opt) *topologytest.Driver {
	t.Helper()
	topo, err := profile.Topology(cfg)
	mustT(t, err)
	opts = append([]topologytest.Opt{topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter))}, opts...)
	d, err := topologytest.New(topo, opts...)
	mustT(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func pipe(t testing.TB, d *topologytest.Driver, r profile.Record) {
	t.Helper()
	k, v, err := r.Encode(serdes)
	mustT(t, err)
	mustT(t, d.PipeRaw(r.Topic, k, v, r.Time))
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	mustT(t, err)
	return string(b)
}

func readUpdates(t testing.TB, out *topologytest.OutputTopic[string, events.ProfileUpdate]) []events.ProfileUpdate {
	t.Helper()
	rs, err := out.ReadAll()
	mustT(t, err)
	ps := make([]events.ProfileUpdate, len(rs))
	for i, r := range rs {
		if r.Key != r.Value.CustomerID {
			t.Fatalf("update keyed %q holds customer %q", r.Key, r.Value.CustomerID)
		}
		ps[i] = r.Value
	}
	return ps
}

func readTriggers(t testing.TB, d *topologytest.Driver) []string {
	t.Helper()
	rs, err := topologytest.Output(d, events.TopicTriggers, serdes.Key, serdes.Trigger).ReadAll()
	mustT(t, err)
	var out []string
	for _, r := range rs {
		out = append(out, profilemodel.TriggerString(r.Value))
	}
	sort.Strings(out)
	return out
}

func modelTriggers(m *profilemodel.Model) []string {
	var out []string
	for _, tr := range m.Triggers {
		out = append(out, profilemodel.TriggerString(tr))
	}
	sort.Strings(out)
	return out
}

func compareTriggers(t *testing.T, seed uint64, got, want []string) {
	t.Helper()
	gs, ws := map[string]bool{}, map[string]bool{}
	for _, g := range got {
		gs[g] = true
	}
	for _, w := range want {
		ws[w] = true
	}
	if len(gs) != len(got) {
		t.Errorf("seed %d: duplicate triggers", seed)
	}
	for _, w := range want {
		if !gs[w] {
			t.Errorf("seed %d: missing trigger %s", seed, w)
		}
	}
	for _, g := range got {
		if !ws[g] {
			t.Errorf("seed %d: unexpected trigger %s", seed, g)
		}
	}
}

// checkStore compares every profile in the store with the model's.
func checkStore(t *testing.T, seed uint64, d *topologytest.Driver, m *profilemodel.Model) {
	t.Helper()
	kv, err := d.Store(profile.StoreProfiles)
	mustT(t, err)
	checkProfiles(t, seed, kv, m)
}

// checkProfiles compares every profile in kv with the model's, and
// checks kv holds no others.
func checkProfiles(t *testing.T, seed uint64, kv state.KeyValueStore, m *profilemodel.Model) {
	t.Helper()
	n := 0
	for id, want := range m.Latest {
		b, ok, err := kv.Get([]byte(id))
		mustT(t, err)
		if !ok {
			t.Errorf("seed %d: no stored profile for %s", seed, id)
			continue
		}
		got, err := profile.DecodeStored(b)
		mustT(t, err)
		if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
			t.Errorf("seed %d: stored profile of %s:\n got %s\nwant %s", seed, id, g, w)
		}
		n++
	}
	it := kv.Range(nil, nil)
	total := 0
	for it.Next() {
		total++
	}
	mustT(t, it.Close())
	if total != n {
		t.Errorf("seed %d: store holds %d profiles, model %d", seed, total, n)
	}
}

func checkVersions(t *testing.T, seed uint64, ups []events.ProfileUpdate, counts map[string]int64) {
	t.Helper()
	last := map[string]int64{}
	for _, u := range ups {
		if u.Version <= last[u.CustomerID] {
			t.Fatalf("seed %d: %s: version %d after %d", seed, u.CustomerID, u.Version, last[u.CustomerID])
		}
		last[u.CustomerID] = u.Version
	}
	for id, n := range counts {
		if last[id] != n {
			t.Errorf("seed %d: %s: last version %d, want its %d events", seed, id, last[id], n)
		}
	}
	if len(last) != len(counts) {
		t.Errorf("seed %d: updates for %d customers, want %d", seed, len(last), len(counts))
	}
}

// Per event: every update equals the model's profile after that event, in
// order; the store and the triggers match too.
func TestPerEventUpdatesMatchModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, uint64(time.Now().UnixNano())} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			recs := profile.Generate(seed, 3000, profile.GenOptions{Customers: 60})
			d := newDriver(t, profile.PerEvent)
			out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)
			m := profilemodel.New()
			counts := map[string]int64{}
			for _, r := range recs {
				pipe(t, d, r)
				m.Add(r)
				if r.IsEvent() {
					counts[r.Key]++
				}
			}
			ups := readUpdates(t, out)
			if len(ups) != len(m.Snapshots) {
				t.Fatalf("seed %d: %d updates, model %d", seed, len(ups), len(m.Snapshots))
			}
			for i := range ups {
				if g, w := jsonOf(t, ups[i]), jsonOf(t, m.Snapshots[i]); g != w {
					t.Fatalf("seed %d: update %d:\n got %s\nwant %s", seed, i, g, w)
				}
			}
			checkVersions(t, seed, ups, counts)
			checkStore(t, seed, d, m)
			compareTriggers(t, seed, readTriggers(t, d), modelTriggers(m))
			if len(m.Triggers) == 0 {
				t.Errorf("seed %d: no triggers at all: the data set exercises nothing", seed)
			}
		})
	}
}

// Topics.Of names the topic of each kind of generated record.
func TestTopicsOf(t *testing.T) {
	tp := profile.PrefixedTopics("p.")
	want := map[string]string{
		"view": tp.Views, "purchase": tp.Purchases, "ticket": tp.Tickets,
		"customer": tp.Customers, "product": tp.Products,
	}
	seen := map[string]bool{}
	for _, r := range profile.Generate(1, 2000, profile.GenOptions{Customers: 10}) {
		kind := ""
		switch {
		case r.View != nil:
			kind = "view"
		case r.Purchase != nil:
			kind = "purchase"
		case r.Ticket != nil:
			kind = "ticket"
		case r.Customer != nil:
			kind = "customer"
		case r.Product != nil:
			kind = "product"
		}
		if got := tp.Of(r); got != want[kind] {
			t.Fatalf("%s record: topic %q; want %q", kind, got, want[kind])
		}
		seen[kind] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("generated only %v; the test needs every kind", seen)
	}
}
