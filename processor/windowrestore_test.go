package processor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

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

// TestWindowsAcrossPipelinedAbortsAndRestores runs windowed and session
// counts (EmitFinal, so each closed window is found through the derived
// time index, then expired with a range delete) through three workers:
// the first with pipelined commits that abort after the next interval
// wrote into its overlays, the second from an empty state directory (a
// full restore of what the first logged, index rebuilt), the third on the
// first one's directory (a restore of only the tail the second logged).
// Every window closes exactly once with the count the model gives, as a
// run without restarts would: after a restore, expiry and fetch-all see
// the same index as the committed store had.
func TestWindowsAcrossPipelinedAbortsAndRestores(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, wout, sout, app := c.Name("in"), c.Name("wout"), c.Name("sout"), c.Name("app")
	const gap = 20 * time.Second
	b := topology.New(app)
	g := topology.GroupByKey(topology.StreamOf(b, in, codec.String(), codec.String()), codec.String(), codec.String())
	g.WindowedBy(topology.Tumbling(time.Minute).Grace(0).EmitFinal()).Count("wcounts").
		ToStream("wcounts-out").To(wout, topology.WindowedSerde(codec.String()), codec.Int64())
	g.WindowedBy(topology.Session(gap).Grace(0).EmitFinal()).Count("scounts").
		ToStream("scounts-out").To(sout, topology.WindowedSerde(codec.String()), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{in, wout, sout} {
		c.CreateTopic(ctx, tp, 1, nil)
	}

	// Event times only move forward (grace 0 drops nothing), by 0-14s,
	// so both kinds of window close all along the run.
	rng := rand.New(rand.NewPCG(seed, 3))
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	wantW := map[winOut]int64{}
	type sess struct{ start, last, n int64 }
	open := map[string]*sess{}
	wantS := map[winOut]int64{}
	closeSession := func(k string, s *sess) { wantS[winOut{k, s.start, s.last + 1}] = s.n }
	send := func(n int) {
		t.Helper()
		// A gap of more than a window before each part: its first record
		// closes every window and session of the part before, in the
		// worker's first intervals, which the abort hook aborts.
		at += 90 * time.Second.Milliseconds()
		recs := make([]*kgo.Record, 0, n)
		for range n {
			at += rng.Int64N(700)
			if rng.IntN(100) == 0 {
				at += 25000 // every session closes
			}
			k := "k" + strconv.Itoa(rng.IntN(12))
			wantW[winOut{k, at - at%60000, at - at%60000 + 60000}]++
			if s := open[k]; s != nil && at-s.last <= gap.Milliseconds() {
				s.last, s.n = at, s.n+1
			} else {
				if s != nil {
					closeSession(k, s)
				}
				open[k] = &sess{start: at, last: at, n: 1}
			}
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("v"), Timestamp: time.UnixMilli(at)})
		}
		if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// aborting runs a worker until n of its commits aborted with the
	// next interval processed and it then committed all of its input
	// (its outputs are in by then), and stops it.
	aborting := func(dir string, n int32) {
		t.Helper()
		w := start(t, topo, c.Brokers, dir, processor.CommitInterval(10*time.Millisecond))
		w.app.AbortWhilePipelining(n)
		ends, err := c.Admin().ListEndOffsets(ctx, in)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(in, 0)
		for {
			var at int64 = -1
			if w.app.ForcedAborts() == 0 {
				offs, err := c.Admin().FetchOffsets(ctx, app)
				if err == nil {
					err = offs.Error()
				}
				if err != nil {
					t.Fatal(err)
				}
				if o, ok := offs.Lookup(in, 0); ok {
					at = o.At
				}
			}
			if at >= end.Offset {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("seed %d: %d of %d aborts happened; input committed to %d of %d", seed, n-w.app.ForcedAborts(), n, at, end.Offset)
			case err := <-w.done:
				t.Fatalf("worker stopped: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		w.stop(t)
	}
	dirA := t.TempDir()
	send(4000)
	aborting(dirA, 3)
	send(4000)
	aborting(t.TempDir(), 3) // restores all the first worker logged
	send(2000)
	// Far later, one record closes every window and session so far.
	at += time.Hour.Milliseconds()
	if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte("~last"), Value: []byte("v"), Timestamp: time.UnixMilli(at)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for k, s := range open {
		closeSession(k, s)
	}
	aborting(dirA, 2) // restores the tail the second worker logged

	ws := topology.WindowedSerde(codec.String())
	read := func(topic string, want map[winOut]int64) {
		t.Helper()
		got := map[winOut][]int64{}
		_, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool {
			if string(r.Key) == endMarker {
				return true
			}
			k, err := ws.Decode(topic, r.Key)
			if err != nil {
				t.Errorf("%s: bad key %q: %v", topic, r.Key, err)
				return true
			}
			n, err := codec.Int64().Decode(topic, r.Value)
			if err != nil {
				t.Errorf("%s: bad count: %v", topic, err)
				return true
			}
			o := winOut{k.Key, k.Start.UnixMilli(), k.End.UnixMilli()}
			got[o] = append(got[o], n)
			return false
		})
		if err != nil {
			t.Fatalf("seed %d: read %s: %v", seed, topic, err)
		}
		for o, n := range want {
			if g := got[o]; len(g) != 1 || g[0] != n {
				t.Errorf("seed %d: %s: window %v closed with %v; want once with %d", seed, topic, o, g, n)
			}
		}
		for o, g := range got {
			if _, ok := want[o]; !ok {
				t.Errorf("seed %d: %s: window %v closed with %v; not in the model", seed, topic, o, g)
			}
		}
	}
	for _, topic := range []string{wout, sout} {
		if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(endMarker)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	read(wout, wantW)
	read(sout, wantS)
	t.Logf("seed %d: %d windows, %d sessions", seed, len(wantW), len(wantS))
	if len(wantW) < 300 || len(wantS) < 300 {
		t.Fatalf("seed %d: only %d windows and %d sessions in the model", seed, len(wantW), len(wantS))
	}
}
