package avro_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// BenchmarkPageView compares the Avro serde with the JSON serde on the same
// event, so results can be read as ratios.
func BenchmarkPageView(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	pv := events.SamplePageView(r, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), 1000)
	reg, _ := newRegistry(b, newFake(b))
	avroSerde, err := events.PageViewSerde(reg, avro.AutoRegister())
	if err != nil {
		b.Fatal(err)
	}
	for _, sd := range []struct {
		name  string
		serde codec.Serde[events.PageView]
	}{
		{"avro", avroSerde},
		{"json", codec.JSON[events.PageView]()},
	} {
		enc, err := sd.serde.Encode(events.TopicWebBrowsing, pv)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sd.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sd.serde.Encode(events.TopicWebBrowsing, pv); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sd.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sd.serde.Decode(events.TopicWebBrowsing, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
