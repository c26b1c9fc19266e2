package processor_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

func countVersion(_, value []byte) (int64, bool, error) {
	n, err := codec.Int64().Decode("", value)
	return n, err == nil, err
}

// A backfill that has read less of an input than the live application
// is not promoted (ErrBackfillBehind); run on, it is. Refusals while a
// group has members, a dry run that changes nothing, and a promote run
// twice (as after one cut short) that writes nothing more the second
// time; the live application then counts on from the backfill's state,
// and no key's count goes back on the live output.
func TestBackfillPromoteRefusesBehindAndRerunsSafely(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	a := newCountApp(t, c)
	a.create(ctx, c, 3)
	app := a.topo.AppID()
	shadowApp := app + "-backfill"
	copyTo := a.topics[1]
	shadow := countTopology(t, shadowApp, a.in, shadowApp+"-"+copyTo, shadowApp+"-"+a.counts)
	bf := processor.Backfill{Live: a.topo, Shadow: shadow,
		Outputs:  map[string]string{shadowApp + "-" + copyTo: copyTo, shadowApp + "-" + a.counts: a.counts},
		Versions: map[string]processor.VersionFunc{a.counts: countVersion}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	want := map[string]int64{}
	produce(t, ctx, c, a.in, seed, 300, want)
	liveDir, shadowDir := t.TempDir(), t.TempDir()
	brokers := processor.SeedBrokers(c.Brokers...)

	// The backfill reads the 300 and stops; the live worker reads 200
	// more: the backfill is behind it. Each run of the backfill stops
	// when it reports it has caught up.
	runBackfill := func() {
		t.Helper()
		bctx, bcancel := context.WithCancel(ctx)
		var mu sync.Mutex
		var reports []processor.BackfillProgress
		err := bf.Run(bctx, time.Time{}, func(p processor.BackfillProgress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
			if p.CaughtUp {
				bcancel()
			}
		}, brokers, processor.StateDir(shadowDir), processor.CommitInterval(50*time.Millisecond))
		bcancel()
		if err != nil {
			t.Fatalf("backfill: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		last := reports[len(reports)-1]
		if !last.CaughtUp || !last.JustCaughtUp || len(last.Partitions) != 3 || last.Records != last.Target {
			t.Errorf("last report %+v: want caught up just now, 3 partitions, every record of the target", last)
		}
	}
	runBackfill()
	// In a transaction: its commit markers end the partitions, and the
	// backfill must see it has caught up all the same.
	cl := c.Client(kgo.DefaultProduceTopic(a.in), kgo.TransactionalID(c.Name("txn")))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		k := "c" + strconv.Itoa((int(seed)+i)%50)
		want[k]++
		cl.Produce(ctx, &kgo.Record{Key: []byte(k), Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	r := start(t, a.topo, c.Brokers, liveDir)
	latestCounts(t, ctx, c, a.counts, want)
	if _, err := bf.PlanPromote(ctx, liveDir, brokers); !errors.Is(err, processor.ErrGroupActive) {
		t.Fatalf("plan while a live worker runs: %v, want ErrGroupActive", err)
	}
	r.stop(t)
	var err error
	for { // the group forgets the worker that left a moment later
		_, err = bf.PlanPromote(ctx, liveDir, brokers)
		if !errors.Is(err, processor.ErrGroupActive) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !errors.Is(err, processor.ErrBackfillBehind) || !strings.Contains(err.Error(), a.in+"/") {
		t.Fatalf("plan with the backfill behind: %v, want ErrBackfillBehind naming %s partitions", err, a.in)
	}

	// Run on, it catches up; the plan is printed, a dry run changes
	// nothing, and the promote can run twice.
	runBackfill()
	var plan processor.PromotePlan
	for {
		plan, err = bf.PlanPromote(ctx, liveDir, brokers)
		if !errors.Is(err, processor.ErrGroupActive) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	t.Logf("plan:\n%s", plan)
	if len(plan.Topics) != 1 || plan.Topics[0].Live != app+"-counts-changelog" || plan.Topics[0].Shadow != shadowApp+"-counts-changelog" {
		t.Errorf("plan replaces %+v, want %s-counts-changelog", plan.Topics, app)
	}
	for _, o := range plan.Offsets {
		if o.To < o.From {
			t.Errorf("plan moves %s/%d back from %d to %d", o.Topic, o.Partition, o.From, o.To)
		}
	}
	for i := range 2 {
		var steps []string
		if err := processor.Promote(ctx, plan, func(s string) { steps = append(steps, s) }, brokers); err != nil {
			t.Fatalf("promote %d: %v", i+1, err)
		}
		t.Logf("promote %d: %q", i+1, steps)
		carried := ""
		for _, s := range steps {
			if strings.HasPrefix(s, "carried ") {
				carried = s
			}
		}
		if i == 1 && !strings.HasPrefix(carried, "carried 0 ") {
			t.Errorf("the second promote carried records again: %q", carried)
		}
	}
	committed, err := c.Admin().FetchOffsets(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := c.Admin().ListEndOffsets(ctx, a.in)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got, _ := committed.Lookup(o.Topic, o.Partition); got.At != o.Offset {
			t.Errorf("%s/%d: the live group committed at %d after the promote, want the end %d", o.Topic, o.Partition, got.At, o.Offset)
		}
	})

	// The live worker counts on from the backfill's state.
	produce(t, ctx, c, a.in, seed+2, 100, want)
	r = start(t, a.topo, c.Brokers, liveDir)
	defer r.stop(t)
	latestCounts(t, ctx, c, a.counts, want)
	last := map[string]int64{}
	if err := processor.ReadToEnd(ctx, []string{a.counts}, func(rec processor.FollowedRecord) error {
		n, _, err := countVersion(rec.Key, rec.Value)
		if err != nil {
			return err
		}
		k := string(rec.Key)
		if n < last[k] {
			t.Errorf("key %s: count %d after %d (%d/%d)", k, n, last[k], rec.Partition, rec.Offset)
		}
		last[k] = n
		return nil
	}, brokers); err != nil {
		t.Fatal(err)
	}
	for k, n := range want {
		if last[k] != n {
			t.Errorf("key %s: last count %d, want %d", k, last[k], n)
		}
	}
}

// countBackfill is a count application on one partition and its
// backfill (<app>-backfill), built from the same code.
func countBackfill(ctx context.Context, t *testing.T, c *kafkatest.Cluster) (countApp, processor.Backfill) {
	t.Helper()
	a := newCountApp(t, c)
	a.create(ctx, c, 1)
	shadowApp := a.topo.AppID() + "-backfill"
	return a, processor.Backfill{Live: a.topo, Shadow: countTopology(t, shadowApp, a.in, shadowApp+"-"+a.topics[1], shadowApp+"-"+a.counts),
		Outputs: map[string]string{shadowApp + "-" + a.topics[1]: a.topics[1], shadowApp + "-" + a.counts: a.counts}}
}

// A backfill built without what the live workers ran with is not
// promoted: an input they read (weir run -erasures) or an expiry index
// they kept (-inactive-ttl); erased customers would come back.
func TestPromoteRefusesABackfillWithoutTheWorkersFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	a, bf := countBackfill(ctx, t, c)
	app := a.topo.AppID()
	brokers := processor.SeedBrokers(c.Brokers...)

	erasures := c.Name("erasures")
	c.CreateTopic(ctx, erasures, 1, nil)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: erasures, Partition: 0, At: 0, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: a.in, Partition: 0, At: 0, LeaderEpoch: -1})
	if err := c.Admin().CommitAllOffsets(ctx, app, offs); err != nil {
		t.Fatal(err)
	}
	_, err := bf.PlanPromote(ctx, t.TempDir(), brokers)
	if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), erasures) || !strings.Contains(err.Error(), "-erasures") {
		t.Fatalf("promote of a backfill that does not read %s, which the workers read: %v; want ErrConfig naming it and -erasures", erasures, err)
	}

	if _, err := c.Admin().DeleteOffsets(ctx, app, kadm.TopicsSet{erasures: {0: {}}}); err != nil {
		t.Fatal(err)
	}
	index := app + "-counts-ttl-changelog"
	c.CreateTopic(ctx, index, 1, nil)
	_, err = bf.PlanPromote(ctx, t.TempDir(), brokers)
	if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), index) || !strings.Contains(err.Error(), "-inactive-ttl") {
		t.Fatalf("promote of a backfill without the workers' expiry index: %v; want ErrConfig naming %s and -inactive-ttl", err, index)
	}
}

// erasingCount counts events per key; erasure requests erase a key and
// delete it from the output.
func erasingCount(t *testing.T, app, in, erasures, out string) *topology.Topology {
	t.Helper()
	b := topology.New(app)
	events := topology.StreamOf(b, in, codec.String(), codec.String())
	req := topology.ErasuresOf(b, erasures, codec.String(), codec.String())
	req.ToTombstones(out, codec.String())
	const erase = "\x00erase"
	all := events.Merge("with-erasures", topology.MapValues(req, "erasure-marker", func(_, _ string) string { return erase }))
	topology.GroupByKey(all.Filter("events-only", func(_, v string) bool { return v != erase }), codec.String(), codec.String()).
		Count("counts").ToStream("counts-out").To(out, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// A backfill starts from the live application's erased keys: an erased
// customer's records are ignored from the first one, never counted and
// published again on the shadow output before the backfill reaches the
// request.
func TestBackfillIgnoresErasedKeysFromTheStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	in, erasures, out := c.Name("in"), c.Name("erasures"), c.Name("counts")
	app := c.Name("app")
	shadowApp := app + "-backfill"
	live := erasingCount(t, app, in, erasures, out)
	bf := processor.Backfill{Live: live, Shadow: erasingCount(t, shadowApp, in, erasures, shadowApp+"-"+out),
		Outputs: map[string]string{shadowApp + "-" + out: out}}
	for _, topic := range []string{in, erasures, out} {
		c.CreateTopic(ctx, topic, 2, nil)
	}
	want := map[string]int64{}
	produceList(t, ctx, c, in, []string{"gone", "kept", "gone", "kept", "gone"}, want)
	w := start(t, live, c.Brokers, t.TempDir(), processor.CommitInterval(50*time.Millisecond))
	latestCounts(t, ctx, c, out, want)
	if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: erasures, Key: []byte("gone"), Value: []byte("request")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadCommittedUntil(ctx, out, func(r *kgo.Record) bool { return string(r.Key) == "gone" && r.Value == nil }); err != nil {
		t.Fatalf("the live worker never erased the key: %v", err)
	}
	w.stop(t)

	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	err := bf.Run(bctx, time.Time{}, func(p processor.BackfillProgress) {
		if p.CaughtUp {
			bcancel()
		}
	}, processor.SeedBrokers(c.Brokers...), processor.StateDir(t.TempDir()), processor.CommitInterval(50*time.Millisecond))
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	var got []string
	err = processor.ReadToEnd(ctx, []string{shadowApp + "-" + out}, func(r processor.FollowedRecord) error {
		v := "tombstone"
		if r.Value != nil {
			n, _ := codec.Int64().Decode("", r.Value)
			v = strconv.FormatInt(n, 10)
		}
		got = append(got, string(r.Key)+"="+v)
		return nil
	}, processor.SeedBrokers(c.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "gone=") && g != "gone=tombstone" {
			t.Fatalf("the backfill published the erased key again: %v", got)
		}
	}
	if !slices.Contains(got, "kept=2") {
		t.Fatalf("shadow output %v lacks kept=2", got)
	}
}

// A backfill from a time (-from) lacks the history before it: the
// promote refuses it (ErrBackfillPartial) unless told AllowPartial.
func TestPromoteRefusesAPartialBackfill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	a, bf := countBackfill(ctx, t, c)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 6 {
		recs = append(recs, &kgo.Record{Topic: a.in, Key: []byte("k"), Value: []byte("v"), Timestamp: t0.Add(time.Duration(i) * 20 * time.Minute)})
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	brokers := processor.SeedBrokers(c.Brokers...)
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	err := bf.Run(bctx, t0.Add(50*time.Minute), func(p processor.BackfillProgress) {
		if p.CaughtUp {
			bcancel()
		}
	}, brokers, processor.StateDir(t.TempDir()), processor.CommitInterval(50*time.Millisecond))
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	_, err = bf.PlanPromote(ctx, t.TempDir(), brokers)
	if !errors.Is(err, processor.ErrBackfillPartial) || !strings.Contains(err.Error(), a.in+"/0 at 3") {
		t.Fatalf("promote of a backfill from the fourth record: %v; want ErrBackfillPartial naming %s/0 at 3", err, a.in)
	}
	bf.AllowPartial = true
	if _, err := bf.PlanPromote(ctx, t.TempDir(), brokers); err != nil {
		t.Fatalf("promote with AllowPartial: %v", err)
	}
}
