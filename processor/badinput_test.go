package processor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/topology"
)

// TestBadRecordsGoToDeadLetters feeds every kind of bad record between
// good ones: each must land in the dead-letter topic with its original
// bytes and headers naming why and where, and every good record must
// still come out.
func TestBadRecordsGoToDeadLetters(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, out, app := c.Name("views"), c.Name("out"), c.Name("app")
	c.CreateTopic(ctx, in, 2, nil)
	c.CreateTopic(ctx, out, 2, nil)

	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc, avro.RetryAttempts(2), avro.RetryBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	views, err := events.PageViewSerde(reg, avro.AutoRegister(), avro.MaxRecordBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	customers, err := events.CustomerSerde(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}

	b := topology.New(app)
	s := topology.StreamOf(b, in, codec.String(), views)
	topology.MapValuesE(s, "checked", func(_ string, v events.PageView) (string, error) {
		if v.URL == "poison" {
			return "", errors.New("user function refused a poison page view")
		}
		return v.URL, nil
	}).To(out, codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	good := func(i int) []byte {
		v := events.SamplePageView(rng, time.Now(), 10)
		v.URL = "ok-" + strconv.Itoa(i)
		bs, err := views.Encode(in, v)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	valid := good(-1)
	poison := events.SamplePageView(rng, time.Now(), 10)
	poison.URL = "poison"
	poisonBytes, err := views.Encode(in, poison)
	if err != nil {
		t.Fatal(err)
	}
	other, err := customers.Encode(in, events.Customer{CustomerID: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	big := events.SamplePageView(rng, time.Now(), 10)
	big.URL = string(make([]byte, 8192))
	bigBytes, err := (mustSerde(t, reg)).Encode(in, big)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"wrong-magic":     append([]byte{1}, valid[1:]...),
		"unknown-schema":  append([]byte{0, 0, 0, 0x7f, 0x7f}, valid[5:]...),
		"truncated":       valid[:len(valid)/2],
		"schema-mismatch": other,
		"oversized":       bigBytes,
		"user-function":   poisonBytes,
	}
	wantKind := map[string]string{
		"wrong-magic": "malformed", "unknown-schema": "unknown-schema", "truncated": "malformed",
		"schema-mismatch": "incompatible-schema", "oversized": "too-large", "user-function": "other",
	}

	var recs []*kgo.Record
	goods := 0
	for name, v := range bad {
		recs = append(recs, &kgo.Record{Topic: in, Key: []byte(name), Value: v})
		for range 3 {
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte("good"), Value: good(goods)})
			goods++
		}
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := start(t, topo, c.Brokers, t.TempDir())
	defer w.stop(t)

	got := 0
	if _, err := c.ReadCommittedUntil(ctx, out, func(*kgo.Record) bool { got++; return got == goods }); err != nil {
		t.Fatalf("good records: %v", err)
	}
	seen := map[string]bool{}
	_, err = c.ReadCommittedUntil(ctx, app+"-dlq", func(r *kgo.Record) bool {
		name := string(r.Key)
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if string(r.Value) != string(bad[name]) {
			t.Errorf("%s: dead letter does not carry the original bytes", name)
		}
		if h[codec.HeaderErrorKind] != wantKind[name] {
			t.Errorf("%s: kind %q, want %q (error %q)", name, h[codec.HeaderErrorKind], wantKind[name], h[codec.HeaderError])
		}
		if h[codec.HeaderTopic] != in || h[codec.HeaderPartition] == "" || h[codec.HeaderOffset] == "" || h[codec.HeaderError] == "" {
			t.Errorf("%s: headers %v do not name the error, topic, partition and offset", name, h)
		}
		seen[name] = true
		return len(seen) == len(bad)
	})
	if err != nil {
		t.Fatalf("dead letters: saw %v of %d: %v", seen, len(bad), err)
	}
}

// mustSerde is a page-view serde without the size limit, to make an
// oversized record the limited one must refuse.
func mustSerde(t *testing.T, reg *avro.Registry) codec.Serde[events.PageView] {
	s, err := events.PageViewSerde(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
