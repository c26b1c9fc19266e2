package profile_test

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// With the Avro serdes the same topology runs, its outputs decode with the
// registry, and the store stays registry-free (DecodeStored).
func TestAvroSerdesEndToEnd(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	hc, err := avro.NewHTTPRegistryClient(fake.URL())
	mustT(t, err)
	reg, err := avro.NewRegistry(hc, avro.RetryAttempts(1))
	mustT(t, err)
	sd, err := profile.AvroSerdes(reg, avro.AutoRegister())
	mustT(t, err)
	topo, err := profile.Topology(profile.Config{Serdes: sd, Emit: profile.PerEvent})
	mustT(t, err)
	for _, g := range topo.CopartitionGroups() {
		if want := []string{"customers", "purchase_events", "support_tickets", "web_browsing"}; !reflect.DeepEqual(g, want) {
			t.Fatalf("co-partition group %v; want %v", g, want)
		}
	}
	d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
	mustT(t, err)
	m := profilemodel.New()
	for _, r := range profile.Generate(3, 300, profile.GenOptions{Customers: 20}) {
		k, v, err := r.Encode(sd)
		mustT(t, err)
		mustT(t, d.PipeRaw(r.Topic, k, v, r.Time))
		m.Add(r)
	}
	if dl := d.DeadLetters(); len(dl) != 0 {
		t.Fatalf("%d dead letters", len(dl))
	}
	ups := readUpdates(t, topologytest.Output(d, events.TopicProfileUpdates, sd.Key, sd.Update))
	if len(ups) != len(m.Snapshots) {
		t.Fatalf("%d updates, model %d", len(ups), len(m.Snapshots))
	}
	for i := range ups {
		if g, w := jsonOf(t, ups[i]), jsonOf(t, m.Snapshots[i]); g != w {
			t.Fatalf("update %d after an Avro round trip:\n got %s\nwant %s", i, g, w)
		}
	}
	checkStore(t, 3, d, m)
}
