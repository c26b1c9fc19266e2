package processor_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// Promote carries each key's latest shadow record to the live output
// when it is newer, tombstones (erasures) included: a key the shadow
// erased is deleted on the live output too, and a key the live output
// deleted takes any shadow version.
func TestPromoteCarriesTombstones(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	live, shadow := c.Name("live"), c.Name("shadow")
	c.CreateTopic(ctx, live, 1, nil)
	c.CreateTopic(ctx, shadow, 1, nil)
	rec := func(topic, key, value string) *kgo.Record {
		r := &kgo.Record{Topic: topic, Key: []byte(key)}
		if value != "" {
			r.Value = []byte(value)
		}
		return r
	}
	var recs []*kgo.Record
	for _, kv := range [][3]string{
		// key, live's history, shadow's latest ("" a tombstone, "-" none)
		{"erased-in-shadow", "3", ""},
		{"deleted-live", "", "1"},
		{"deleted-both", "", ""},
		{"older-in-shadow", "5", "4"},
		{"only-a-shadow-tombstone", "-", ""},
		{"newer-in-shadow", "1", "2"},
	} {
		if kv[1] != "-" {
			if kv[1] == "" { // a live profile, then its tombstone
				recs = append(recs, rec(live, kv[0], "1"))
			}
			recs = append(recs, rec(live, kv[0], kv[1]))
		}
		recs = append(recs, rec(shadow, kv[0], "9"), rec(shadow, kv[0], kv[2]))
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	version := func(_, v []byte) (int64, bool, error) {
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil, err
	}
	conn := processor.SeedBrokers(c.Brokers...)
	n, err := processor.CarryOutput(ctx, shadow, live, c.Name("txn"), version, conn)
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]string{}
	var order []string
	err = processor.ReadToEnd(ctx, []string{live}, func(r processor.FollowedRecord) error {
		v := "<tombstone>"
		if r.Value != nil {
			v = string(r.Value)
		}
		latest[string(r.Key)] = v
		order = append(order, string(r.Key)+"="+v)
		return nil
	}, conn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"erased-in-shadow": "<tombstone>", "deleted-live": "1", "deleted-both": "<tombstone>",
		"older-in-shadow": "5", "newer-in-shadow": "2",
	}
	for k, v := range want {
		if latest[k] != v {
			t.Errorf("live %s: latest %q, want %q (records %v)", k, latest[k], v, order)
		}
	}
	if _, ok := latest["only-a-shadow-tombstone"]; ok || n != 3 {
		t.Errorf("carried %d records, want 3 (the erasure, the deleted key's new version, the newer one); live records %v", n, order)
	}
}
