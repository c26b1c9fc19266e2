package processor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// lenientInt64 is the "fix": it also reads decimal text, which the strict
// codec.Int64 of the first topology dead-letters.
type lenientInt64 struct{}

func (lenientInt64) Encode(topic string, v int64) ([]byte, error) {
	return codec.Int64().Encode(topic, v)
}
func (lenientInt64) Decode(topic string, b []byte) (int64, error) {
	if len(b) == 8 {
		return codec.Int64().Decode(topic, b)
	}
	return strconv.ParseInt(string(b), 10, 64)
}

func dlqCountTopology(t *testing.T, app, in, out string, values codec.Serde[int64]) *topology.Topology {
	t.Helper()
	b := topology.New(app)
	topology.GroupByKey(topology.StreamOf(b, in, codec.String(), values), codec.String(), values).
		Count("n").ToStream("n-out").To(out, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// Records a topology cannot read go to its dead-letter topic; after a fix
// (a topology that reads them), replaying them sends each back to its
// source partition once, with its own headers, and the counts include
// them; a second replay sends nothing, and the counts stay.
func TestReplayDeadLettersOnceAfterAFix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	in, out, app := c.Name("in"), c.Name("counts"), c.Name("app")
	c.CreateTopic(ctx, in, 2, nil)
	c.CreateTopic(ctx, out, 2, nil)
	good, all := map[string]int64{}, map[string]int64{}
	var recs []*kgo.Record
	for i := range 120 {
		k := "k" + strconv.Itoa(rng.IntN(10))
		v, _ := codec.Int64().Encode(in, int64(i))
		if i%6 == 0 { // 20 in text: the strict topology cannot read them
			v = []byte(strconv.Itoa(i))
		} else {
			good[k]++
		}
		all[k]++
		recs = append(recs, &kgo.Record{Topic: in, Key: []byte(k), Value: v,
			Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte(fmt.Sprint("t-", i))}}})
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	strict := dlqCountTopology(t, app, in, out, codec.Int64())
	dlq := strict.DeadLetterTopic()
	r := start(t, strict, c.Brokers, t.TempDir(), processor.BadInput(topology.DeadLetter))
	latestCounts(t, ctx, c, out, good)
	conn := processor.SeedBrokers(c.Brokers...)
	// Once the worker has committed the end of its input, every dead
	// letter is in a committed transaction.
	if err := demo.WaitCommitted(ctx, c.Brokers, app, in); err != nil {
		t.Fatal(err)
	}
	var dead []processor.DeadLetter
	if err := processor.ReadDeadLetters(ctx, dlq, func(d processor.DeadLetter) error { dead = append(dead, d); return nil }, conn); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 20 {
		t.Fatalf("%d dead letters, want 20", len(dead))
	}
	r.stop(t)
	for _, d := range dead {
		if d.Kind != string(codec.KindMalformed) || d.Source != in || d.SourcePartition < 0 || d.Replayed || len(d.Headers) != 1 || d.Headers[0].Key != "trace-id" {
			t.Fatalf("dead letter %+v: want a malformed record of %s with its trace-id header only", d, in)
		}
	}

	// A filter that selects nothing replays nothing.
	res, err := processor.ReplayDeadLetters(ctx, dlq, processor.DeadLetterFilter{Kinds: []string{"failed"}}, app+"-replay", nil, conn)
	if err != nil || res.Replayed != 0 || res.NotSelected != 20 {
		t.Fatalf("replay of kind failed: %+v %v, want 20 not selected", res, err)
	}

	fixed := dlqCountTopology(t, app, in, out, lenientInt64{})
	r = start(t, fixed, c.Brokers, t.TempDir(), processor.BadInput(topology.DeadLetter))
	defer r.stop(t)
	res, err = processor.ReplayDeadLetters(ctx, dlq, processor.DeadLetterFilter{Kinds: []string{string(codec.KindMalformed)}, Source: in}, app+"-replay", nil, conn)
	if err != nil || res.Replayed != 20 || res.AlreadyBefore != 0 {
		t.Fatalf("replay: %+v %v, want 20 replayed", res, err)
	}
	latestCounts(t, ctx, c, out, all)

	ends := func() int64 {
		offs, err := c.Admin().ListEndOffsets(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	before := ends()
	res, err = processor.ReplayDeadLetters(ctx, dlq, processor.DeadLetterFilter{}, app+"-replay", nil, conn)
	if err != nil || res.Replayed != 0 || res.AlreadyBefore != 20 {
		t.Fatalf("second replay: %+v %v, want nothing replayed, 20 done before", res, err)
	}
	if after := ends(); after != before {
		t.Fatalf("the second replay wrote %d records to %s", after-before, in)
	}
	// The replayed records went back to their source partitions with
	// their timestamps and own header, and say where they came from.
	byRef := map[string]processor.DeadLetter{}
	for _, d := range dead {
		byRef[fmt.Sprintf("%s/%d/%d", dlq, d.Partition, d.Offset)] = d
	}
	replays := 0
	if _, err := c.ReadCommittedUntil(ctx, in, func(rec *kgo.Record) bool {
		var trace, of string
		for _, h := range rec.Headers {
			switch h.Key {
			case "trace-id":
				trace = string(h.Value)
			case processor.HeaderReplayOf:
				of = string(h.Value)
			}
		}
		if of != "" {
			replays++
			d, ok := byRef[of]
			switch {
			case !ok:
				t.Errorf("replayed record %s/%d@%d names %q, no dead letter", rec.Topic, rec.Partition, rec.Offset, of)
			case trace == "":
				t.Errorf("replayed record %s/%d@%d lost its trace-id header", rec.Topic, rec.Partition, rec.Offset)
			case rec.Partition != d.SourcePartition || !rec.Timestamp.Equal(d.Timestamp) || string(rec.Value) != string(d.Value):
				t.Errorf("replay of %s went to partition %d at %v with %q, the dead letter came from %d at %v with %q",
					of, rec.Partition, rec.Timestamp, rec.Value, d.SourcePartition, d.Timestamp, d.Value)
			}
		}
		return replays == 20
	}); err != nil {
		t.Fatalf("reading the replays: %v (%d of 20)", err, replays)
	}
	listed := 0
	if err := processor.ReadDeadLetters(ctx, dlq, func(d processor.DeadLetter) error {
		if !d.Replayed {
			t.Errorf("dead letter %d/%d not marked replayed", d.Partition, d.Offset)
		}
		listed++
		return nil
	}, conn); err != nil || listed != 20 {
		t.Fatalf("listing after the replay: %d %v", listed, err)
	}
}
