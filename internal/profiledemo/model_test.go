package profiledemo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

const modelPartitions = 4

// input is one record as produced: a generated record, or a malformed one
// standing in its place in a partition.
type input struct {
	rec       profile.Record
	malformed []byte
	partition int32
}

// TestProfilesMatchModelAndReplay preloads a seeded event set (views,
// cart changes, purchases, tickets, customer rows, the catalog, some
// events out of order or late, some malformed), runs the profile
// application on three workers, two of which leave on the way, and compares
// the read_committed outputs with the brute-force model fed each
// partition's records in the order a task merges them (event time, ties
// by topic name): every update equals the model's profile at its version,
// versions strictly increase, the last equals the customer's valid
// events, the triggers are the model's, every malformed record is
// dead-lettered. Then a fresh application id (one worker) replays the
// same input: the same final profiles, and every (customer, version) in
// both runs names the same profile.
func TestProfilesMatchModelAndReplay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	prefix := c.Name("") + "."
	tp := profile.PrefixedTopics(prefix)
	for _, topic := range []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers} {
		c.CreateTopic(ctx, topic, modelPartitions, nil)
	}
	c.CreateTopic(ctx, tp.Products, 1, nil)
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}

	ins := modelInputs(seed, tp, 20000, 150)
	produceInputs(t, ctx, c, serdes, ins, produceOpts{})
	model, malformed := runModel(ins, tp)
	t.Logf("seed %d: %d records, %d malformed, %d customers, %d triggers", seed, len(ins), malformed,
		len(model.latest), len(model.triggers))

	run := func(name string, workers int) runOutput {
		app := c.Name(name)
		out := tp
		out.Updates, out.Triggers = app+".updates", app+".triggers"
		c.CreateTopic(ctx, out.Updates, modelPartitions, nil)
		c.CreateTopic(ctx, out.Triggers, modelPartitions, nil)
		topo, err := profile.Topology(profile.Config{AppID: app, Topics: out, Serdes: serdes, BadInput: topology.DeadLetter})
		if err != nil {
			t.Fatal(err)
		}
		runWorkers(t, ctx, c, topo, tp, workers)
		return readRun(t, ctx, c, serdes, out, topo.DeadLetterTopic())
	}

	first := run("first", 3)
	checkAgainstModel(t, seed, first, model, malformed)
	second := run("replay", 1)
	checkAgainstModel(t, seed, second, model, malformed)
	both := 0
	for id, ups := range first.updates {
		if g, w := jsonString(t, last(second.updates[id])), jsonString(t, last(ups)); g != w {
			t.Errorf("seed %d: %s: replay ends at\n%s\nfirst run at\n%s", seed, id, g, w)
		}
		byVersion := map[int64]string{}
		for _, u := range ups {
			byVersion[u.Version] = jsonString(t, u)
		}
		for _, u := range second.updates[id] {
			if w, ok := byVersion[u.Version]; ok {
				both++
				if g := jsonString(t, u); g != w {
					t.Errorf("seed %d: %s version %d differs between runs:\n%s\n%s", seed, id, u.Version, g, w)
				}
			}
		}
	}
	t.Logf("seed %d: %d (customer, version) pairs in both runs agree", seed, both)
}

// modelInputs generates the data set and places every record in a
// partition by its key; about 1% of events get a malformed record right
// after them, with the same key and time.
func modelInputs(seed uint64, tp profile.Topics, events, customers int) []input {
	rng := rand.New(rand.NewPCG(seed, 7))
	recs := profile.Generate(seed, events, profile.GenOptions{Customers: customers})
	var ins []input
	for i, r := range recs {
		r.Topic = tp.Of(r)
		p := partitionOf(r.Key)
		if r.Product != nil {
			p = 0
		}
		ins = append(ins, input{rec: r, partition: p})
		if r.IsEvent() && rng.Float64() < 0.01 {
			ins = append(ins, input{rec: profile.Record{Topic: r.Topic, Key: r.Key, Time: r.Time},
				malformed: profile.Malformed(seed, i), partition: p})
		}
	}
	return ins
}

func partitionOf(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % modelPartitions)
}

// produceOpts vary how the harness produces, as real producers do.
type produceOpts struct {
	// noTimestamps leaves the record timestamps to the client (its clock
	// at produce time), as a producer that sets none does. Malformed
	// records keep theirs: with no event-time field, it is their place.
	noTimestamps bool
	// avroKeys writes customer-id keys as Confluent-framed Avro strings.
	avroKeys bool
}

func produceInputs(t *testing.T, ctx context.Context, c *kafkatest.Cluster, s profile.Serdes, ins []input, o produceOpts) {
	t.Helper()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, 0, len(ins))
	for _, in := range ins {
		enc := s
		if o.avroKeys && in.rec.Product == nil {
			enc.Key = s.AvroKey
		}
		var k, v []byte
		var err error
		if in.malformed != nil {
			k, err = enc.Key.Encode(in.rec.Topic, in.rec.Key)
			v = in.malformed
		} else {
			k, v, err = in.rec.Encode(enc)
		}
		if err != nil {
			t.Fatal(err)
		}
		ts := in.rec.Time
		if o.noTimestamps && in.malformed == nil {
			ts = time.Time{}
		}
		recs = append(recs, &kgo.Record{Topic: in.rec.Topic, Partition: in.partition, Key: k, Value: v, Timestamp: ts})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// expected is what the model says, over all partitions.
type expected struct {
	latest    map[string]events.ProfileUpdate
	snapshots map[string]map[int64]events.ProfileUpdate // customer -> version -> profile
	triggers  []string
}

// runModel feeds one model per partition (a task's stream time is its
// own) with that partition's records in the order a task takes them: the
// catalog first (a global table is loaded before processing), then
// repeatedly the head with the smallest time among the inputs, ties by
// topic name. Malformed records take their turn and are dropped.
func runModel(ins []input, tp profile.Topics) (expected, int) {
	exp := expected{latest: map[string]events.ProfileUpdate{}, snapshots: map[string]map[int64]events.ProfileUpdate{}}
	malformed := 0
	for _, in := range ins {
		if in.malformed != nil {
			malformed++
		}
	}
	sources := []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers}
	sort.Strings(sources)
	for p := range int32(modelPartitions) {
		m := profilemodel.New()
		queues := map[string][]input{}
		for _, in := range ins {
			if in.rec.Product != nil {
				m.Add(in.rec)
			} else if in.partition == p {
				queues[in.rec.Topic] = append(queues[in.rec.Topic], in)
			}
		}
		for {
			next := ""
			for _, topic := range sources {
				q := queues[topic]
				if len(q) > 0 && (next == "" || q[0].rec.Time.Before(queues[next][0].rec.Time)) {
					next = topic
				}
			}
			if next == "" {
				break
			}
			in := queues[next][0]
			queues[next] = queues[next][1:]
			if in.malformed == nil {
				m.Add(in.rec)
			}
		}
		for id, u := range m.Latest {
			exp.latest[id] = u
		}
		for _, u := range m.Snapshots {
			if exp.snapshots[u.CustomerID] == nil {
				exp.snapshots[u.CustomerID] = map[int64]events.ProfileUpdate{}
			}
			exp.snapshots[u.CustomerID][u.Version] = u
		}
		for _, tr := range m.Triggers {
			exp.triggers = append(exp.triggers, profilemodel.TriggerString(tr))
		}
	}
	sort.Strings(exp.triggers)
	return exp, malformed
}

// runWorkers runs n workers until the inputs are fully committed; all but
// the first leave after a few commits each, so tasks move mid-stream.
func runWorkers(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topo *topology.Topology, tp profile.Topics, n int) {
	t.Helper()
	type worker struct {
		stop context.CancelFunc
		done chan error
	}
	commits := make(chan struct{}, 1)
	exited := make(chan error, n) // workers that stopped by themselves
	var ws []worker
	for i := range n {
		app, err := processor.New(topo,
			processor.SeedBrokers(c.Brokers...),
			processor.StateDir(filepath.Join(t.TempDir(), fmt.Sprint(i))),
			processor.InstanceID(fmt.Sprint(i)),
			processor.SessionTimeout(6*time.Second),
			// Small fetches drain partitions unevenly, so tasks often
			// wait and hold records across commits.
			processor.FetchMaxPartitionBytes(1<<10),
			processor.Logger(zaptest.NewLogger(t).Named(fmt.Sprint(i))),
			processor.WithMetrics(commitHook{commits}),
		)
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		w := worker{stop: stop, done: make(chan error, 1)}
		go func() {
			err := app.Run(wctx)
			if wctx.Err() == nil {
				exited <- fmt.Errorf("worker %d stopped by itself: %v", i, err)
			}
			w.done <- err
		}()
		ws = append(ws, w)
	}
	stop := func(w worker) {
		w.stop()
		if err := <-w.done; err != nil && ctx.Err() == nil && err != context.Canceled {
			t.Errorf("worker: %v", err)
		}
	}
	// All but one leave, one at a time, a few commits apart: each leave
	// is a last commit of whatever the leaver holds.
	for len(ws) > 1 {
		for range 5 {
			select {
			case <-commits:
			case <-ctx.Done():
				t.Fatal("no commit")
			}
		}
		stop(ws[len(ws)-1])
		ws = ws[:len(ws)-1]
	}
	waitCommitted(t, ctx, c, topo.AppID(), tp, exited)
	for _, w := range ws {
		stop(w)
	}
}

type commitHook struct{ ch chan struct{} }

func (h commitHook) Processed(topology.TaskID, topology.TaskStats) {}
func (h commitHook) Committed(_ time.Duration, ok bool) {
	if ok {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
}
func (h commitHook) Restored(string, int32, int64, int64) {}
func (h commitHook) EndToEnd(time.Duration)               {}
func (h commitHook) Lag(string, int32, int64)             {}

// waitCommitted waits until the group has committed every input record,
// checking after each poll of the lag.
func waitCommitted(t *testing.T, ctx context.Context, c *kafkatest.Cluster, group string, tp profile.Topics, exited <-chan error) {
	t.Helper()
	inputs := map[string]bool{tp.Views: true, tp.Purchases: true, tp.Tickets: true, tp.Customers: true}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		lags, err := c.Admin().Lag(ctx, group)
		if err == nil {
			err = lags.Error()
		}
		done := err == nil
		if done {
			lags.Each(func(l kadm.DescribedGroupLag) {
				n := 0
				for _, tl := range l.Lag.Sorted() {
					if !inputs[tl.Topic] {
						continue
					}
					n++
					if tl.Commit.At < tl.End.Offset {
						done = false
					}
				}
				if n != 4*modelPartitions {
					done = false
				}
			})
		}
		if done {
			return
		}
		select {
		case <-tick.C:
		case err := <-exited:
			t.Fatalf("inputs not committed by group %s: %v", group, err)
		case <-ctx.Done():
			t.Fatalf("inputs not committed by group %s: %v", group, err)
		}
	}
}

type runOutput struct {
	updates     map[string][]events.ProfileUpdate // in offset order
	triggers    []string
	deadLetters int
}

// readRun reads a run's outputs with read_committed up to their ends.
func readRun(t *testing.T, ctx context.Context, c *kafkatest.Cluster, s profile.Serdes, tp profile.Topics, dlq string) runOutput {
	t.Helper()
	out := runOutput{updates: map[string][]events.ProfileUpdate{}}
	for _, topic := range []string{tp.Updates, tp.Triggers, dlq} {
		readToEnd(t, ctx, c, topic, func(r *kgo.Record) {
			switch topic {
			case tp.Updates:
				u, err := s.Update.Decode(topic, r.Value)
				if err != nil {
					t.Fatalf("%s/%d@%d: %v", topic, r.Partition, r.Offset, err)
				}
				if u.CustomerID != string(r.Key) {
					t.Fatalf("update keyed %q holds customer %q", r.Key, u.CustomerID)
				}
				out.updates[u.CustomerID] = append(out.updates[u.CustomerID], u)
			case tp.Triggers:
				tr, err := s.Trigger.Decode(topic, r.Value)
				if err != nil {
					t.Fatalf("%s/%d@%d: %v", topic, r.Partition, r.Offset, err)
				}
				out.triggers = append(out.triggers, profilemodel.TriggerString(tr))
			default:
				out.deadLetters++
			}
		})
	}
	sort.Strings(out.triggers)
	return out
}

func readToEnd(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, fn func(*kgo.Record)) {
	t.Helper()
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return
	}
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
}

func checkAgainstModel(t *testing.T, seed uint64, got runOutput, exp expected, malformed int) {
	t.Helper()
	if len(got.updates) != len(exp.latest) {
		t.Errorf("seed %d: updates for %d customers, model %d", seed, len(got.updates), len(exp.latest))
	}
	for id, want := range exp.latest {
		ups := got.updates[id]
		if len(ups) == 0 {
			t.Errorf("seed %d: no update for %s", seed, id)
			continue
		}
		for i, u := range ups {
			if i > 0 && u.Version <= ups[i-1].Version {
				t.Errorf("seed %d: %s: version %d after %d", seed, id, u.Version, ups[i-1].Version)
			}
			w, ok := exp.snapshots[id][u.Version]
			if !ok {
				t.Errorf("seed %d: %s: version %d the model never reached", seed, id, u.Version)
			} else if g, w := jsonString(t, u), jsonString(t, w); g != w {
				t.Errorf("seed %d: %s version %d:\n got %s\nwant %s", seed, id, u.Version, g, w)
			}
		}
		if g, w := last(ups).Version, want.Version; g != w {
			t.Errorf("seed %d: %s ends at version %d, the number of its valid events is %d", seed, id, g, w)
		}
	}
	if g, w := fmt.Sprint(got.triggers), fmt.Sprint(exp.triggers); g != w {
		t.Errorf("seed %d: %d triggers, model %d; first difference: %s", seed, len(got.triggers), len(exp.triggers), firstDiff(got.triggers, exp.triggers))
	}
	if got.deadLetters != malformed {
		t.Errorf("seed %d: %d dead letters, %d malformed records sent", seed, got.deadLetters, malformed)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %s, model %s", got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return "extra " + got[len(want)]
	}
	if len(want) > len(got) {
		return "missing " + want[len(got)]
	}
	return "none"
}

func last(ups []events.ProfileUpdate) events.ProfileUpdate {
	if len(ups) == 0 {
		return events.ProfileUpdate{}
	}
	return ups[len(ups)-1]
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProfilesFromRealWorldProducers runs the profile application (one
// worker) over inputs produced the ways non-Java clients often do, and
// compares with the model:
//   - no record timestamps: the client stamps each record with its clock
//     at produce time, long after the events' own times; the profiles
//     still follow the events' time fields. The only registry subjects
//     the run adds are its two output topics' (no changelog subjects).
//   - keys as Confluent-framed Avro strings (subject <topic>-key), read
//     with KeyFormat avro: the same customers, not new ones.
func TestProfilesFromRealWorldProducers(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    produceOpts
		kf   profile.KeyFormat
	}{
		{"no-timestamps", produceOpts{noTimestamps: true}, profile.KeyString},
		{"avro-keys", produceOpts{avroKeys: true}, profile.KeyAvro},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := c.Name(tc.name) + "."
			tp := profile.PrefixedTopics(prefix)
			for _, topic := range []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers} {
				c.CreateTopic(ctx, topic, modelPartitions, nil)
			}
			c.CreateTopic(ctx, tp.Products, 1, nil)
			tp.Updates, tp.Triggers = prefix+"updates", prefix+"triggers"
			c.CreateTopic(ctx, tp.Updates, modelPartitions, nil)
			c.CreateTopic(ctx, tp.Triggers, modelPartitions, nil)
			ins := modelInputs(seed, tp, 4000, 60)
			produceInputs(t, ctx, c, serdes, ins, tc.o)
			model, malformed := runModel(ins, tp)
			before := subjects(t, ctx, c.Registry)

			topo, err := profile.Topology(profile.Config{AppID: c.Name(tc.name), Topics: tp, Serdes: serdes,
				BadInput: topology.DeadLetter, KeyFormat: tc.kf})
			if err != nil {
				t.Fatal(err)
			}
			runWorkers(t, ctx, c, topo, tp, 1)
			got := readRun(t, ctx, c, serdes, tp, topo.DeadLetterTopic())
			checkAgainstModel(t, seed, got, model, malformed)

			var added []string
			for _, s := range subjects(t, ctx, c.Registry) {
				if !slices.Contains(before, s) {
					added = append(added, s)
				}
			}
			want := []string{tp.Updates + "-value", tp.Triggers + "-value"}
			sort.Strings(want)
			if fmt.Sprint(added) != fmt.Sprint(want) {
				t.Errorf("seed %d: the run registered subjects %v, want only the outputs' %v", seed, added, want)
			}
		})
	}
}

// Avro keys where plain string keys are declared (the default): every
// record of the customer-keyed inputs is dead-lettered with kind
// framed-key, and no profile is made from them.
func TestAvroKeysDeclaredStringAreDeadLettered(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	prefix := c.Name("") + "."
	tp := profile.PrefixedTopics(prefix)
	for _, topic := range []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers, tp.Updates, tp.Triggers} {
		c.CreateTopic(ctx, topic, modelPartitions, nil)
	}
	c.CreateTopic(ctx, tp.Products, 1, nil)
	var ins []input
	for _, in := range modelInputs(seed, tp, 300, 20) {
		if in.malformed == nil {
			ins = append(ins, in)
		}
	}
	produceInputs(t, ctx, c, serdes, ins, produceOpts{avroKeys: true})
	keyed := 0
	for _, in := range ins {
		if in.rec.Product == nil {
			keyed++
		}
	}
	topo, err := profile.Topology(profile.Config{AppID: c.Name("app"), Topics: tp, Serdes: serdes, BadInput: topology.DeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	runWorkers(t, ctx, c, topo, tp, 1)
	got := readRun(t, ctx, c, serdes, tp, topo.DeadLetterTopic())
	if len(got.updates) != 0 {
		t.Errorf("seed %d: profiles of %d customers made from framed keys", seed, len(got.updates))
	}
	kinds := map[string]int{}
	readToEnd(t, ctx, c, topo.DeadLetterTopic(), func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == "weir.error.kind" {
				kinds[string(h.Value)]++
			}
		}
	})
	if kinds["framed-key"] != keyed || len(kinds) != 1 {
		t.Errorf("seed %d: dead letters by kind %v, want framed-key: %d (every customer-keyed record)", seed, kinds, keyed)
	}
}

// subjects lists the registry's subjects, sorted.
func subjects(t *testing.T, ctx context.Context, registry string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, registry+"/subjects", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s/subjects: %v", registry, err)
	}
	sort.Strings(out)
	return out
}
