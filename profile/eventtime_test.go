package profile_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// Event time is the events' own time field, not the Kafka record
// timestamp: with every record stamped 70 to 80 minutes after its event
// (a producer that sets no timestamp, sending a backlog), the updates,
// stored profiles and triggers are the model's, which reads the fields.
func TestEventTimeFromFieldsNotRecordTimestamps(t *testing.T) {
	for _, seed := range []uint64{1, uint64(time.Now().UnixNano())} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 70))
			recs := profile.Generate(seed, 2000, profile.GenOptions{Customers: 40})
			d := newDriver(t, profile.PerEvent)
			out := topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update)
			m := profilemodel.New()
			counts := map[string]int64{}
			for _, r := range recs {
				r.Time = r.Time.Add(70*time.Minute + time.Duration(rng.IntN(600_000))*time.Millisecond)
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
		})
	}
}

// A missing event time (zero, or the epoch a producer leaving the field at
// 0 writes) takes the record timestamp; one more than MaxFutureSkew ahead
// of the record timestamp is clamped to it, unless the bound is off.
func TestEventTimeMissingOrInTheFuture(t *testing.T) {
	rt := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		skew  time.Duration
		field time.Time
		want  time.Time
	}{
		{"zero", 0, time.Time{}, rt},
		{"epoch", 0, time.UnixMilli(0), rt},
		{"past", 0, rt.Add(-70 * time.Minute), rt.Add(-70 * time.Minute)},
		{"within-skew", 0, rt.Add(time.Minute), rt.Add(time.Minute)},
		{"future", 0, rt.Add(3 * time.Hour), rt.Add(profile.Grace)},
		{"future-own-bound", 10 * time.Minute, rt.Add(3 * time.Hour), rt.Add(10 * time.Minute)},
		{"future-unbounded", -1, rt.Add(3 * time.Hour), rt.Add(3 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := profile.Topology(profile.Config{Serdes: serdes, Emit: profile.PerEvent, MaxFutureSkew: tc.skew})
			mustT(t, err)
			d, err := topologytest.New(topo)
			mustT(t, err)
			defer d.Close()
			v := events.PageView{Context: events.Context{EventID: "e-1", EventTime: tc.field}, CustomerID: "c-1",
				URL: "https://shop.example.com/", PageType: events.PageHome}
			mustT(t, topologytest.Input(d, events.TopicWebBrowsing, serdes.Key, serdes.PageView).Pipe("c-1", v, rt))
			ups := readUpdates(t, topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update))
			if len(ups) != 1 {
				t.Fatalf("%d updates, want 1", len(ups))
			}
			if !ups[0].LastEventTime.Equal(tc.want) || !ups[0].UpdatedAt.Equal(tc.want) {
				t.Fatalf("last_event_time %v, updated_at %v; want both %v", ups[0].LastEventTime, ups[0].UpdatedAt, tc.want)
			}
		})
	}
}

// A Confluent-framed (e.g. Avro) key where plain string keys are declared
// is dead-lettered with kind framed-key on every input; it never becomes a
// customer. Declared as Avro (KeyFormat avro), the same framed keys are
// the customers they encode, and outputs and stores keep plain ids.
func TestFramedKeys(t *testing.T) {
	framed := func(id string) []byte {
		b := codec.AppendWireHeader(nil, 1)
		return append(append(b, byte(2*len(id))), id...) // Avro string: zigzag length, bytes
	}
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	view := events.PageView{Context: events.Context{EventID: "e-1", EventTime: at}, CustomerID: "c-1",
		URL: "https://shop.example.com/", PageType: events.PageHome}
	vb, err := serdes.PageView.Encode(events.TopicWebBrowsing, view)
	mustT(t, err)
	row := events.Customer{CustomerID: "c-1", Segment: "vip", Country: "DE", UpdatedAt: at.Add(-time.Hour)}
	rb, err := serdes.Customer.Encode(events.TopicCustomers, row)
	mustT(t, err)

	t.Run("declared-string", func(t *testing.T) {
		d := newDriver(t, profile.PerEvent)
		mustT(t, d.PipeRaw(events.TopicCustomers, framed("c-1"), rb, at.Add(-time.Hour)))
		mustT(t, d.PipeRaw(events.TopicWebBrowsing, framed("c-1"), vb, at))
		if ups := d.Outputs(events.TopicProfileUpdates); len(ups) != 0 {
			t.Fatalf("%d profile updates from framed keys, want none", len(ups))
		}
		dl := d.DeadLetters()
		if len(dl) != 2 {
			t.Fatalf("%d dead letters, want 2", len(dl))
		}
		for _, o := range dl {
			kind := ""
			for _, h := range o.Headers {
				if h.Key == "weir.error.kind" {
					kind = string(h.Value)
				}
			}
			if kind != string(codec.KindFramedKey) {
				t.Fatalf("dead letter kind %q, want %q (headers %v)", kind, codec.KindFramedKey, o.Headers)
			}
		}
	})
	t.Run("declared-avro", func(t *testing.T) {
		avroKey := avroStringKey{}
		sd := serdes
		sd.AvroKey = avroKey
		topo, err := profile.Topology(profile.Config{Serdes: sd, Emit: profile.PerEvent, KeyFormat: profile.KeyAvro})
		mustT(t, err)
		d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
		mustT(t, err)
		defer d.Close()
		mustT(t, d.PipeRaw(events.TopicCustomers, framed("c-1"), rb, at.Add(-time.Hour)))
		mustT(t, d.PipeRaw(events.TopicWebBrowsing, framed("c-1"), vb, at))
		mustT(t, d.PipeRaw(events.TopicWebBrowsing, []byte("c-1"), vb, at)) // not framed: malformed
		ups := readUpdates(t, topologytest.Output(d, events.TopicProfileUpdates, serdes.Key, serdes.Update))
		if len(ups) != 1 || ups[0].CustomerID != "c-1" || ups[0].Segment != "vip" || ups[0].Version != 1 {
			t.Fatalf("updates %+v, want one of c-1 (segment vip from its row)", ups)
		}
		if dl := d.DeadLetters(); len(dl) != 1 {
			t.Fatalf("%d dead letters, want the unframed key's", len(dl))
		}
		kv, err := d.Store(profile.StoreProfiles)
		mustT(t, err)
		if _, ok, err := kv.Get([]byte("c-1")); err != nil || !ok {
			t.Fatalf("store has no plain key c-1 (%v, %v)", ok, err)
		}
	})
}

// avroStringKey decodes framed Avro string keys without a registry, as
// avro.New[string](reg, `"string"`, avro.ForKeys()) does with one.
type avroStringKey struct{}

func (avroStringKey) Encode(string, string) ([]byte, error) {
	return nil, fmt.Errorf("avroStringKey: encode is not for this test")
}

func (avroStringKey) Decode(_ string, b []byte) (string, error) {
	_, p, err := codec.ParseWire(b)
	if err != nil {
		return "", err
	}
	if len(p) == 0 || int(p[0])/2 != len(p)-1 {
		return "", fmt.Errorf("%w: not an Avro string", codec.ErrMalformed)
	}
	return string(p[1:]), nil
}
