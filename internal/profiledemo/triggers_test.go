package profiledemo_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profiledemo"
	"github.com/weirstream/weir/processor"
)

// FollowProfiles decodes each followed profile update and publishes it,
// in order, skipping a record that does not decode.
func TestFollowProfilesDecodesAndSkipsGarbage(t *testing.T) {
	fake := srfake.New()
	defer fake.Close()
	rc, err := avro.NewHTTPRegistryClient(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	serde, err := events.ProfileUpdateSerde(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	const topic = "p.profile_updates"
	var values [][]byte
	for _, v := range []int64{1, 2} {
		b, err := serde.Encode(topic, events.ProfileUpdate{CustomerID: "c-1", Known: true, Version: v, Segment: "vip"})
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
	}
	values = [][]byte{values[0], []byte("not avro"), values[1]}
	var followed string
	follow := func(ctx context.Context, tp string, fn func(processor.FollowedRecord)) error {
		followed = tp
		for i, v := range values {
			fn(processor.FollowedRecord{Topic: tp, Offset: int64(i), Value: v})
		}
		return nil
	}
	var got []events.ProfileUpdate
	err = profiledemo.FollowProfiles(context.Background(), follow, fake.URL(), topic, zap.NewNop(), func(p events.ProfileUpdate) { got = append(got, p) })
	if err != nil || followed != topic {
		t.Fatalf("FollowProfiles: %v, followed %q", err, followed)
	}
	if len(got) != 2 || got[0].Version != 1 || got[1].Version != 2 || got[1].CustomerID != "c-1" || got[1].Segment != "vip" {
		t.Fatalf("published %+v; want versions 1 and 2 of c-1", got)
	}
}
