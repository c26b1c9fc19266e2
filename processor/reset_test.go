package processor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// planWhenStopped plans a reset, retrying while the group still lists a
// worker that has just left (the broker forgets it a moment later).
func planWhenStopped(t *testing.T, ctx context.Context, a countApp, to processor.ResetTo, dir string, brokers []string) processor.ResetPlan {
	t.Helper()
	for {
		plan, err := processor.PlanReset(ctx, a.topo, to, dir, processor.SeedBrokers(brokers...))
		if err == nil {
			return plan
		}
		if !errors.Is(err, processor.ErrGroupActive) || ctx.Err() != nil {
			t.Fatalf("plan reset: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A reset refuses while a worker runs. Stopped, it plans (changing
// nothing) the inputs back to their start, the changelog deleted and the
// local state removed; carried out, a new worker counts every event again
// from an empty state: each key's count reaches its total a second time,
// never more.
func TestResetReprocessesFromTheStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	a := newCountApp(t, c)
	a.create(ctx, c, 3)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	want := map[string]int64{}
	produce(t, ctx, c, a.in, seed, 300, want)
	dir := t.TempDir()
	r := start(t, a.topo, c.Brokers, dir)
	latestCounts(t, ctx, c, a.counts, want)

	if _, err := processor.PlanReset(ctx, a.topo, processor.ResetTo{}, dir, processor.SeedBrokers(c.Brokers...)); !errors.Is(err, processor.ErrGroupActive) {
		t.Fatalf("plan while a worker runs: %v, want ErrGroupActive", err)
	}
	r.stop(t)
	plan := planWhenStopped(t, ctx, a, processor.ResetTo{}, dir, c.Brokers)
	t.Logf("plan:\n%s", plan)
	var read int64
	for _, o := range plan.Offsets {
		if o.Topic != a.in || o.To != 0 {
			t.Errorf("offset %+v: want input %s back to 0", o, a.in)
		}
		read += o.From
	}
	if len(plan.Offsets) != 3 || read != 300 {
		t.Errorf("plan moves %d partitions from %d records read, want 3 and 300", len(plan.Offsets), read)
	}
	changelog := a.topo.AppID() + "-counts-changelog"
	if len(plan.Topics) != 1 || plan.Topics[0] != changelog {
		t.Errorf("plan deletes %v, want [%s]", plan.Topics, changelog)
	}
	if plan.StateDir != filepath.Join(dir, a.topo.AppID()) {
		t.Errorf("plan removes state %q, want %q", plan.StateDir, filepath.Join(dir, a.topo.AppID()))
	}
	// Planning changed nothing: planning again gives the same plan.
	if again := planWhenStopped(t, ctx, a, processor.ResetTo{}, dir, c.Brokers); again.String() != plan.String() {
		t.Fatalf("a second plan differs:\n%s", again)
	}

	var steps []string
	if err := processor.Reset(ctx, plan, func(s string) { steps = append(steps, s) }, processor.SeedBrokers(c.Brokers...)); err != nil {
		t.Fatalf("reset: %v", err)
	}
	t.Logf("steps: %q", steps)
	if len(steps) != 3 {
		t.Errorf("reset told %d steps, want 3 (offsets, topic, state)", len(steps))
	}
	committed, err := c.Admin().FetchOffsets(ctx, a.topo.AppID())
	if err != nil {
		t.Fatal(err)
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == a.in && o.At != 0 {
			t.Errorf("after reset %s/%d committed at %d, want 0", o.Topic, o.Partition, o.At)
		}
	})
	for { // deletion completes on the brokers a moment after it is acknowledged
		topics, err := c.Admin().ListTopics(ctx, changelog)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := topics[changelog]; !ok || d.Err != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("changelog %s still exists after reset", changelog)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := os.Stat(plan.StateDir); !os.IsNotExist(err) {
		t.Errorf("local state %s still there after reset: %v", plan.StateDir, err)
	}

	// Counted again from nothing: every key reaches its total twice.
	r = start(t, a.topo, c.Brokers, dir)
	defer r.stop(t)
	reachedTwice := map[string]int{}
	done := 0
	if _, err := c.ReadCommittedUntil(ctx, a.counts, func(rec *kgo.Record) bool {
		n, err := codec.Int64().Decode(a.counts, rec.Value)
		k := string(rec.Key)
		if err != nil || n > want[k] {
			t.Errorf("key %s counted %d (err %v), %d events were sent", k, n, err, want[k])
			return true
		}
		if n == want[k] {
			if reachedTwice[k]++; reachedTwice[k] == 2 {
				done++
			}
		}
		return done == len(want)
	}); err != nil {
		t.Fatalf("counts after the reset: %v; keys at their total twice: %d of %d", err, done, len(want))
	}
}

// A reset to a time moves each input partition to its first record at
// or after it.
func TestResetToATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	a := newCountApp(t, c)
	a.create(ctx, c, 3)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	cut := time.Now().Truncate(time.Millisecond)
	before := map[int32]int64{} // records before cut, per partition
	cl := c.Client(kgo.DefaultProduceTopic(a.in), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 200 {
		p := int32(rng.IntN(3))
		at := cut.Add(-time.Hour)
		if i >= 120 { // the last 80 are at or after the cut
			at = cut.Add(time.Duration(i-120) * time.Millisecond)
		} else {
			before[p]++
		}
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v"), Partition: p, Timestamp: at})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plan := planWhenStopped(t, ctx, a, processor.ResetTo{Time: cut}, t.TempDir(), c.Brokers)
	if len(plan.Offsets) != 3 {
		t.Fatalf("plan moves %d partitions, want 3:\n%s", len(plan.Offsets), plan)
	}
	for _, o := range plan.Offsets {
		if o.To != before[o.Partition] || o.From != -1 {
			t.Errorf("%s/%d: from %d to %d, want from none to %d", o.Topic, o.Partition, o.From, o.To, before[o.Partition])
		}
	}
	if plan.StateDir != "" || len(plan.Topics) != 0 {
		t.Errorf("nothing ran, yet the plan removes %q and deletes %v", plan.StateDir, plan.Topics)
	}
	if !strings.Contains(plan.String(), "none ->") {
		t.Errorf("plan text does not show offsets never committed:\n%s", plan)
	}
}

// An application id that would name a directory outside the state
// directory (or all of it) is refused before anything is asked of Kafka.
func TestResetRefusesAnAppIDThatIsAPath(t *testing.T) {
	checked := 0
	for _, id := range []string{"..", ".", "a/../../home", "x y"} {
		b := topology.New(id)
		topology.StreamOf(b, "in", codec.String(), codec.String()).To("out", codec.String(), codec.String())
		topo, err := b.Build()
		if err != nil {
			continue // the builder refuses it already
		}
		checked++
		_, err = processor.PlanReset(context.Background(), topo, processor.ResetTo{}, t.TempDir(), processor.SeedBrokers("127.0.0.1:1"))
		if !errors.Is(err, processor.ErrConfig) {
			t.Errorf("app id %q: %v, want ErrConfig", id, err)
		}
		err = processor.Reset(context.Background(), processor.ResetPlan{AppID: id, StateDir: "/tmp"}, nil, processor.SeedBrokers("127.0.0.1:1"))
		if !errors.Is(err, processor.ErrConfig) {
			t.Errorf("reset of app id %q: %v, want ErrConfig", id, err)
		}
	}
	if checked < 2 {
		t.Fatalf("the builder refused all but %d of the ids: the test checks nothing", checked)
	}
	err := processor.Reset(context.Background(), processor.ResetPlan{AppID: "app", StateDir: "/tmp"}, nil, processor.SeedBrokers("127.0.0.1:1"))
	if !errors.Is(err, processor.ErrConfig) {
		t.Errorf("reset removing /tmp for app: %v, want ErrConfig", err)
	}
}

// A reset keeps the erasure requests' offsets and the erased keys'
// changelog: the rerun ignores an erased key's records from the first.
func TestResetKeepsTheErasedKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	in, erasures := c.Name("in"), c.Name("erasures")
	b := topology.New(c.Name("app"))
	events := topology.StreamOf(b, in, codec.String(), codec.String())
	req := topology.ErasuresOf(b, erasures, codec.String(), codec.String())
	topology.GroupByKey(events.Merge("with-erasures", req), codec.String(), codec.String()).Count("counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app := topo.AppID()
	c.CreateTopic(ctx, in, 2, nil)
	c.CreateTopic(ctx, erasures, 2, nil)
	for _, it := range topo.InternalTopics() {
		c.CreateTopic(ctx, it.Name, 2, nil)
	}
	plan, err := processor.PlanReset(ctx, topo, processor.ResetTo{}, t.TempDir(), processor.SeedBrokers(c.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range plan.Offsets {
		if o.Topic != in {
			t.Errorf("the plan moves %s/%d: only %s should move", o.Topic, o.Partition, in)
		}
	}
	kept := app + "-" + erasures + "-changelog"
	if !slices.Equal(plan.Topics, []string{app + "-counts-changelog"}) {
		t.Errorf("the plan deletes %v, want only the counts' changelog (not %s)", plan.Topics, kept)
	}
	if s := plan.String(); !strings.Contains(s, "keep topic "+kept) || !strings.Contains(s, "keep the offsets of "+erasures) {
		t.Errorf("the plan does not say what it keeps:\n%s", s)
	}
}
