package profile_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// An erasure request forgets the customer everywhere: every store, the
// profile output (a tombstone), the processor's memory; it is audited;
// the customer's older records are ignored and newer ones start afresh.
// Everything else goes on as the model says.
func TestErasureForgetsTheCustomer(t *testing.T) {
	for _, seed := range []uint64{1, 2, uint64(time.Now().UnixNano())} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			testErasure(t, seed)
		})
	}
}

func testErasure(t *testing.T, seed uint64) {
	tp := profile.Topics{}.WithErasures("")
	topo, err := profile.Topology(profile.Config{Serdes: serdes, Emit: profile.PerEvent, Topics: tp})
	mustT(t, err)
	d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
	mustT(t, err)
	t.Cleanup(func() { _ = d.Close() })
	out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)

	recs := profile.Generate(seed, 4000, profile.GenOptions{Customers: 30})
	half := len(recs) / 2
	m := profilemodel.New()
	counts := map[string]int{}
	for _, r := range recs[:half] {
		pipe(t, d, r)
		m.Add(r)
		if r.IsEvent() {
			counts[r.Key]++
		}
	}
	// The busiest customer so far: state in every store.
	var id string
	for k, n := range counts {
		if n > counts[id] || n == counts[id] && k < id {
			id = k
		}
	}
	at := recs[half-1].Time
	req := eventsErasure(id, at)
	k, v, err := encodeErasure(req)
	mustT(t, err)
	mustT(t, d.PipeRaw(tp.Erasures, k, v, at))
	m.Erase(id, at)

	if where := holding(t, d, topo, tp.Erasures, id); len(where) > 0 {
		t.Fatalf("seed %d: after the erasure %s is still in stores %v", seed, id, where)
	}
	ups, err := out.ReadAll()
	mustT(t, err)
	if last := ups[len(ups)-1]; last.Key != id || !last.Tombstone {
		t.Fatalf("seed %d: last profile update %+v, want the tombstone of %s", seed, last, id)
	}
	audits, err := topologytest.Output(d, tp.ErasureAudit, serdes.Key, serdes.Audit).ReadAll()
	mustT(t, err)
	var want []string
	for _, st := range topo.Stores() {
		if st.Changelog != "" && st.Name != tp.Erasures {
			want = append(want, st.Name)
		}
	}
	if len(audits) != 1 || audits[0].Key != id || audits[0].Value.RequestID != req.RequestID ||
		audits[0].Value.RequestedBy != "dpo@example.com" || !slices.Equal(audits[0].Value.Stores, want) ||
		!slices.Equal(audits[0].Value.Outputs, []string{events.TopicProfileUpdates}) {
		t.Fatalf("seed %d: audit records %+v, want one for %s listing stores %v", seed, audits, id, want)
	}

	// The rest, after one of the customer's events sent again: their
	// records up to the erasure are ignored.
	for _, r := range recs[:half] {
		if r.Key == id && r.IsEvent() {
			pipe(t, d, r)
			m.Add(r)
			break
		}
	}
	// And one a second after the erasure: they come back.
	for _, r := range recs[:half] {
		if r.Key == id && r.View != nil {
			v := *r.View
			v.Context.EventTime = at.Add(time.Second)
			r.View, r.Time = &v, at.Add(time.Second)
			pipe(t, d, r)
			m.Add(r)
			break
		}
	}
	for _, r := range recs[half:] {
		pipe(t, d, r)
		m.Add(r)
	}
	if got := d.Stats().Erased; got == 0 || got != int64(m.Ignored) {
		t.Errorf("seed %d: %d records ignored as erased, the model ignored %d", seed, got, m.Ignored)
	}
	// Versions go on above the erased profile's, so trigger ids
	// (customer, type, version) never repeat.
	if p, ok := m.Latest[id]; !ok || p.Version <= at.UnixMilli()*1000 {
		t.Errorf("seed %d: %s came back with version %d (present %v), want above %d", seed, id, p.Version, ok, at.UnixMilli()*1000)
	}
	checkStore(t, seed, d, m)
	compareTriggers(t, seed, readTriggers(t, d), modelTriggers(m))
}

func eventsErasure(id string, at time.Time) events.ErasureRequest {
	return events.ErasureRequest{RequestID: "req-" + id, CustomerID: id, RequestedBy: "dpo@example.com", RequestedAt: at, Reason: "article 17"}
}

func encodeErasure(r events.ErasureRequest) (k, v []byte, err error) {
	if k, err = serdes.Key.Encode(events.TopicErasures, r.CustomerID); err != nil {
		return nil, nil, err
	}
	v, err = serdes.Erasure.Encode(events.TopicErasures, r)
	return k, v, err
}

// holding lists the stores, but the erasure store, with a key or value
// that holds id.
func holding(t *testing.T, d *topologytest.Driver, topo *topology.Topology, erasures, id string) []string {
	t.Helper()
	var found []string
	for _, st := range topo.Stores() {
		if st.Name == erasures || st.Changelog == "" {
			continue
		}
		kv, err := d.Store(st.Name)
		mustT(t, err)
		it := kv.Range(nil, nil)
		for it.Next() {
			if bytes.Contains(it.Key(), []byte(id)) || bytes.Contains(it.Value(), []byte(id)) {
				found = append(found, st.Name)
				break
			}
		}
		mustT(t, it.Close())
	}
	return found
}

// With InactiveTTL, the profile store's expiry index (profiles-ttl) keeps
// the customer id too: an erasure clears it with the profile.
func TestErasureClearsTheExpiryIndex(t *testing.T) {
	tp := profile.Topics{}.WithErasures("")
	topo, err := profile.Topology(profile.Config{Serdes: serdes, Topics: tp, InactiveTTL: 1000 * time.Hour})
	mustT(t, err)
	d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
	mustT(t, err)
	t.Cleanup(func() { _ = d.Close() })
	recs := profile.Generate(3, 600, profile.GenOptions{Customers: 10})
	for _, r := range recs {
		pipe(t, d, r)
	}
	mustT(t, d.Commit())
	id := recs[len(recs)-1].Key
	before := holding(t, d, topo, tp.Erasures, id)
	if !slices.Contains(before, profile.StoreProfiles+"-ttl") {
		t.Fatalf("before the erasure %s is in %v: the expiry index should be among them", id, before)
	}
	k, v, err := encodeErasure(eventsErasure(id, recs[len(recs)-1].Time))
	mustT(t, err)
	mustT(t, d.PipeRaw(tp.Erasures, k, v, recs[len(recs)-1].Time))
	mustT(t, d.Commit())
	if where := holding(t, d, topo, tp.Erasures, id); len(where) > 0 {
		t.Fatalf("after the erasure %s is still in %v", id, where)
	}
}
