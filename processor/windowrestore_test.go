package processor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
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

// processedCount signals when a worker has committed n input records.
type processedCount struct {
	restoreCount
	mu   sync.Mutex
	in   int64
	want int64
	done chan struct{}
}

func (p *processedCount) Processed(_ topology.TaskID, d topology.TaskStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in += d.RecordsIn
	if p.in >= p.want && p.done != nil {
		close(p.done)
		p.done = nil
	}
}

// readLog reads every committed data record of partition 0 of topic, to
// its current end. The topic must be settled.
func readLog(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	if err := c.WaitSettled(ctx, topic); err != nil {
		t.Fatal(err)
	}
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ends.Lookup(topic, 0)
	cl := c.Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // markers move the position to the end
	)
	var out []*kgo.Record
	for pos := int64(0); pos < e.Offset; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s to %d: at %d: %v", topic, e.Offset, pos, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			t.Fatal(ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos = max(pos, r.Offset+1)
			if !r.Attrs.IsControl() && r.Offset < e.Offset {
				out = append(out, r)
			}
		})
	}
	return out
}

// TestWindowIndexRebuiltOnRestore: a window store's changelog carries its
// windows, not its time index; a worker that restores the store from it
// into an empty state directory rebuilds the index, so windows that close
// after the restore are still emitted (EmitFinal finds closed windows
// through the index).
func TestWindowIndexRebuiltOnRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, out, app := c.Name("in"), c.Name("out"), c.Name("app")
	b := topology.New(app)
	topology.GroupByKey(topology.StreamOf(b, in, codec.String(), codec.String()), codec.String(), codec.String()).
		WindowedBy(topology.Tumbling(time.Hour).Grace(0).EmitFinal()).Count("wcounts").
		ToStream("wcounts-out").To(out, topology.WindowedSerde(codec.String()), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{in, out} {
		c.CreateTopic(ctx, tp, 1, nil)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	send := func(keys []string, at time.Time) {
		t.Helper()
		var recs []*kgo.Record
		for i, k := range keys {
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("v"), Timestamp: at.Add(time.Duration(i) * time.Minute)})
		}
		if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// First life: four events in the window [base, base+1h), none closed.
	send([]string{"a", "b", "a", "c"}, base)
	m := &processedCount{want: 4, done: make(chan struct{})}
	done := m.done
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(m))
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the first worker did not commit the four events")
	}
	w.stop(t)
	changelog := app + "-wcounts-changelog"
	logged := readLog(t, ctx, c, changelog)
	if len(logged) == 0 {
		t.Fatalf("%s is empty", changelog)
	}
	for _, r := range logged {
		if r.Key[0] != 'k' {
			t.Fatalf("%s holds %q (offset %d), not a window: the time index is derived and must not be logged", changelog, r.Key, r.Offset)
		}
	}

	// Second life, from an empty state directory: restore, then an event
	// two hours later closes the window.
	rc := &restoreCount{last: map[string]int64{}}
	w = start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(rc))
	defer w.stop(t)
	send([]string{"d"}, base.Add(2*time.Hour))
	got := map[string]int64{}
	ws := topology.WindowedSerde(codec.String())
	if _, err := c.ReadCommittedUntil(ctx, out, func(r *kgo.Record) bool {
		k, err := ws.Decode(out, r.Key)
		if err != nil {
			t.Errorf("bad key: %v", err)
			return true
		}
		n, err := codec.Int64().Decode(out, r.Value)
		if err != nil {
			t.Errorf("bad count: %v", err)
			return true
		}
		if !k.Start.Equal(base) {
			t.Errorf("closed window %v of %s; want the one at %v", k.Start, k.Key, base)
		}
		got[k.Key] = n
		return len(got) == 3
	}); err != nil {
		t.Fatalf("final counts after restore: %v; got %v", err, got)
	}
	if want := map[string]int64{"a": 2, "b": 1, "c": 1}; got["a"] != 2 || got["b"] != 1 || got["c"] != 1 {
		t.Fatalf("final counts after restore %v; want %v", got, want)
	}
	if n := rc.total(); n != int64(len(logged)) {
		t.Fatalf("restored %d records; the changelog holds %d", n, len(logged))
	}
}

// winOut is one final window result: key, bounds and count.
type winOut struct {
	key        string
	start, end int64
}

// windowScenario is an application with windowed and session counts
// (EmitFinal, so each closed window is found through the derived time
// index, then expired with a range delete), its input, and the model of
// the windows and sessions the input closes.
type windowScenario struct {
	t     *testing.T
	ctx   context.Context
	c     *kafkatest.Cluster
	seed  uint64
	rng   *rand.Rand
	parts int32

	in, wout, sout, app string
	topo                *topology.Topology

	at           int64 // event time of the last record
	wantW, wantS map[winOut]int64
	open         map[string]*modelSession
}

type modelSession struct{ start, last, n int64 }

const scenarioGap = 20 * time.Second

func newWindowScenario(t *testing.T, ctx context.Context, c *kafkatest.Cluster, seed uint64, parts int32) *windowScenario {
	s := &windowScenario{t: t, ctx: ctx, c: c, seed: seed, rng: rand.New(rand.NewPCG(seed, 3)), parts: parts,
		in: c.Name("in"), wout: c.Name("wout"), sout: c.Name("sout"), app: c.Name("app"),
		at:    time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		wantW: map[winOut]int64{}, wantS: map[winOut]int64{}, open: map[string]*modelSession{}}
	b := topology.New(s.app)
	g := topology.GroupByKey(topology.StreamOf(b, s.in, codec.String(), codec.String()), codec.String(), codec.String())
	g.WindowedBy(topology.Tumbling(time.Minute).Grace(0).EmitFinal()).Count("wcounts").
		ToStream("wcounts-out").To(s.wout, topology.WindowedSerde(codec.String()), codec.Int64())
	g.WindowedBy(topology.Session(scenarioGap).Grace(0).EmitFinal()).Count("scounts").
		ToStream("scounts-out").To(s.sout, topology.WindowedSerde(codec.String()), codec.Int64())
	var err error
	if s.topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{s.in, s.wout, s.sout} {
		c.CreateTopic(ctx, tp, parts, nil)
	}
	return s
}

// send produces n records. Event times only move forward (grace 0 drops
// nothing), by 0-0.7s and now and then 25s, so windows and sessions close
// all along. A gap of more than a window comes first: the part's first
// record closes every window and session of the part before, in a
// worker's first intervals, which the abort hook aborts.
func (s *windowScenario) send(n int) {
	s.t.Helper()
	s.at += 90 * time.Second.Milliseconds()
	recs := make([]*kgo.Record, 0, n)
	for range n {
		s.at += s.rng.Int64N(700)
		if s.rng.IntN(100) == 0 {
			s.at += 25000 // every session closes
		}
		k := "k" + strconv.Itoa(s.rng.IntN(12))
		s.wantW[winOut{k, s.at - s.at%60000, s.at - s.at%60000 + 60000}]++
		if ms := s.open[k]; ms != nil && s.at-ms.last <= scenarioGap.Milliseconds() {
			ms.last, ms.n = s.at, ms.n+1
		} else {
			if ms != nil {
				s.closeSession(k, ms)
			}
			s.open[k] = &modelSession{start: s.at, last: s.at, n: 1}
		}
		recs = append(recs, &kgo.Record{Topic: s.in, Key: []byte(k), Value: []byte("v"), Timestamp: time.UnixMilli(s.at)})
	}
	if err := s.c.Client().ProduceSync(s.ctx, recs...).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *windowScenario) closeSession(k string, ms *modelSession) {
	s.wantS[winOut{k, ms.start, ms.last + 1}] = ms.n
}

// closeAll sends, far later, a record to each partition that closes every
// window and session so far.
func (s *windowScenario) closeAll() {
	s.t.Helper()
	s.at += time.Hour.Milliseconds()
	part := kgo.StickyKeyPartitioner(nil).ForTopic(s.in)
	seen := map[int]bool{}
	for i := 0; len(seen) < int(s.parts); i++ {
		r := &kgo.Record{Topic: s.in, Key: []byte("~last" + strconv.Itoa(i)), Value: []byte("v"), Timestamp: time.UnixMilli(s.at)}
		if p := part.Partition(r, int(s.parts)); !seen[p] {
			seen[p] = true
			if err := s.c.Client().ProduceSync(s.ctx, r).FirstErr(); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	for k, ms := range s.open {
		s.closeSession(k, ms)
	}
}

// committed reports whether the application committed all its input.
func (s *windowScenario) committed() bool {
	s.t.Helper()
	ends, err := s.c.Admin().ListEndOffsets(s.ctx, s.in)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		s.t.Fatal(err)
	}
	offs, err := s.c.Admin().FetchOffsets(s.ctx, s.app)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return false // not joined yet
	}
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		if o, ok := offs.Lookup(e.Topic, e.Partition); e.Offset > 0 && (!ok || o.At < e.Offset) {
			done = false
		}
	})
	return done
}

// waitCommitted waits until the workers' n forced aborts happened and
// the application committed all its input (its outputs are in by then).
func (s *windowScenario) waitCommitted(ws ...*running) {
	s.t.Helper()
	for {
		aborts := int32(0)
		for _, w := range ws {
			aborts += w.app.ForcedAborts()
		}
		if aborts == 0 && s.committed() {
			return
		}
		var done <-chan error
		if len(ws) > 0 {
			done = ws[0].done
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("seed %d: %d forced aborts to go; input committed: %v", s.seed, aborts, s.committed())
		case err := <-done:
			s.t.Fatalf("worker stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// check reads both outputs to an end marker: every window and session
// of the model closed exactly once, with its count, and nothing else.
func (s *windowScenario) check() {
	s.t.Helper()
	ws := topology.WindowedSerde(codec.String())
	read := func(topic string, want map[winOut]int64) {
		s.t.Helper()
		cl := s.c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for p := range s.parts {
			if err := cl.ProduceSync(s.ctx, &kgo.Record{Key: []byte(endMarker), Partition: p}).FirstErr(); err != nil {
				s.t.Fatal(err)
			}
		}
		got := map[winOut][]int64{}
		markers := int32(0)
		_, err := s.c.ReadCommittedUntil(s.ctx, topic, func(r *kgo.Record) bool {
			if string(r.Key) == endMarker {
				markers++
				return markers == s.parts
			}
			k, err := ws.Decode(topic, r.Key)
			if err != nil {
				s.t.Errorf("%s: bad key %q: %v", topic, r.Key, err)
				return true
			}
			n, err := codec.Int64().Decode(topic, r.Value)
			if err != nil {
				s.t.Errorf("%s: bad count: %v", topic, err)
				return true
			}
			o := winOut{k.Key, k.Start.UnixMilli(), k.End.UnixMilli()}
			got[o] = append(got[o], n)
			return false
		})
		if err != nil {
			s.t.Fatalf("seed %d: read %s: %v", s.seed, topic, err)
		}
		for o, n := range want {
			if g := got[o]; len(g) != 1 || g[0] != n {
				s.t.Errorf("seed %d: %s: window %v closed with %v; want once with %d", s.seed, topic, o, g, n)
			}
		}
		for o, g := range got {
			if _, ok := want[o]; !ok {
				s.t.Errorf("seed %d: %s: window %v closed with %v; not in the model", s.seed, topic, o, g)
			}
		}
	}
	read(s.wout, s.wantW)
	read(s.sout, s.wantS)
	s.t.Logf("seed %d: %d windows, %d sessions", s.seed, len(s.wantW), len(s.wantS))
	if len(s.wantW) < 300 || len(s.wantS) < 300 {
		s.t.Fatalf("seed %d: only %d windows and %d sessions in the model", s.seed, len(s.wantW), len(s.wantS))
	}
}

// TestWindowsAcrossPipelinedAbortsAndRestores runs the window scenario
// through three workers: the first with pipelined commits that abort
// after the next interval wrote into its overlays, the second from an
// empty state directory (a full restore of what the first logged, index
// rebuilt), the third on the first one's directory (a restore of only the
// tail the second logged). Every window closes exactly once with the
// count the model gives, as a run without restarts would: after a
// restore, expiry and fetch-all see the same index as the committed
// store had, and a rewind leaves no low watermark behind.
func TestWindowsAcrossPipelinedAbortsAndRestores(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	s := newWindowScenario(t, ctx, c, seed, 1)
	aborting := func(dir string, n int32) {
		t.Helper()
		w := start(t, s.topo, c.Brokers, dir, processor.CommitInterval(10*time.Millisecond))
		w.app.AbortWhilePipelining(n)
		s.waitCommitted(w)
		w.stop(t)
	}
	dirA := t.TempDir()
	s.send(4000)
	aborting(dirA, 3)
	s.send(4000)
	aborting(t.TempDir(), 3) // restores all the first worker logged
	s.send(2000)
	s.closeAll()
	aborting(dirA, 2) // restores the tail the second worker logged
	s.check()
}

// TestWindowsAcrossRebalance runs the window scenario on two partitions
// while a second worker joins a pipelined, parallel worker mid-backlog
// (the first worker's transaction aborts, its tasks rewind, and the moved
// task restores on the newcomer), then the first worker alone takes both
// tasks back (one from its checkpoint, one from a full restore, as it
// dropped the moved task's state).
func TestWindowsAcrossRebalance(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	s := newWindowScenario(t, ctx, c, seed, 2)
	opts := []processor.Opt{processor.CommitInterval(10 * time.Millisecond), processor.Parallelism(2),
		processor.SessionTimeout(6 * time.Second)}
	dirA := t.TempDir()
	s.send(6000)
	a := start(t, s.topo, c.Brokers, dirA, opts...)
	a.app.AbortWhilePipelining(1)
	s.waitCommittedSome(a)
	b := start(t, s.topo, c.Brokers, t.TempDir(), opts...)
	s.send(3000)
	s.waitCommitted(a, b)
	b.stop(t)
	a.stop(t)
	s.send(2000)
	s.closeAll()
	a = start(t, s.topo, c.Brokers, dirA, opts...)
	s.waitCommitted(a)
	a.stop(t)
	s.check()
}

// waitCommittedSome waits until w's forced aborts happened and it
// committed some of its input. It does not wait for less than all: a
// fast worker may have drained the backlog by then, and the newcomer
// then joins as the next records arrive.
func (s *windowScenario) waitCommittedSome(w *running) {
	s.t.Helper()
	for {
		offs, err := s.c.Admin().FetchOffsets(s.ctx, s.app)
		if err == nil && offs.Error() == nil && w.app.ForcedAborts() == 0 {
			n := int64(0)
			offs.Each(func(o kadm.OffsetResponse) { n += o.At })
			if n > 0 {
				return
			}
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("seed %d: nothing committed", s.seed)
		case err := <-w.done:
			s.t.Fatalf("worker stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
