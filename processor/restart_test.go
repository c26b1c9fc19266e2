package processor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// threeStoreApp counts each key in three stores (three changelogs, as
// the profile pipeline has several), and writes the first count out.
type threeStoreApp struct {
	countApp
	changelogs []string
}

func newThreeStoreApp(t *testing.T, c *kafkatest.Cluster) threeStoreApp {
	t.Helper()
	a := threeStoreApp{countApp: countApp{in: c.Name("in"), counts: c.Name("counts")}}
	a.topics = []string{a.in, a.counts}
	app := c.Name("app")
	b := topology.New(app)
	g := topology.GroupByKey(topology.StreamOf(b, a.in, codec.String(), codec.String()), codec.String(), codec.String())
	for _, s := range []string{"counts", "counts-b", "counts-c"} {
		tb := g.Count(s)
		a.changelogs = append(a.changelogs, app+"-"+s+"-changelog")
		if s == "counts" {
			tb.ToStream("counts-out").To(a.counts, codec.String(), codec.Int64())
		}
	}
	var err error
	if a.topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	return a
}

// checkpoints reads the checkpoint of every task in a stopped worker's
// state directory: changelog -> partition -> offset. It fails the test if
// a checkpoint lacks a changelog's topic id or holds an all-zero one.
func checkpoints(t *testing.T, dir string, a threeStoreApp) map[string]map[int32]int64 {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dir, a.topo.AppID()), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tasks, err := db.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		t.Fatalf("no checkpoint in %s", dir)
	}
	out := map[string]map[int32]int64{}
	for _, task := range tasks {
		cp, ok, err := db.Checkpoint(task)
		if err != nil || !ok {
			t.Fatalf("task %s: checkpoint %v %v", task, ok, err)
		}
		for _, cl := range a.changelogs {
			if id, ok := cp.Identity.TopicIDs[cl]; !ok || id == [16]byte{} {
				t.Fatalf("task %s: checkpoint has topic id %x for %s (present %v): the next start would discard this state", task, id, cl, ok)
			}
		}
		for tp, o := range cp.Offsets {
			if out[tp.Topic] == nil {
				out[tp.Topic] = map[int32]int64{}
			}
			out[tp.Topic][tp.Partition] = o
		}
	}
	return out
}

// TestRestartsRestoreOnlyTheTail deploys an application on topics it has
// never seen, stops it cleanly and starts it again: nothing may be
// restored. Then a worker crashes after commits (abandoned
// mid-transaction, as kill -9 leaves it): the restart restores exactly
// the changelog records committed after its checkpoint. Last, a restart
// from an older copy of the state (a machine crash that lost unsynced
// writes) restores exactly the records committed after that copy's
// checkpoint.
//
// On tier 2 the first metadata answers about the new changelogs say
// "unknown topic" with a zero id, as a real broker does for a moment
// after creating them; the worker must wait for the real ids.
func TestRestartsRestoreOnlyTheTail(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	a := newThreeStoreApp(t, c)
	a.create(ctx, c, 3)
	lagged := c.LagNewTopics(ctx, func(topic string) bool { return strings.HasSuffix(topic, "-changelog") }, 3)
	dir := t.TempDir()
	want := map[string]int64{}

	// Deploy: the worker creates the changelogs.
	produce(t, ctx, c, a.in, seed, 600, want)
	w := start(t, a.topo, c.Brokers, dir)
	latestCounts(t, ctx, c, a.counts, want)
	w.stop(t)
	if !c.Real && lagged() == 0 {
		t.Fatal("no metadata request saw the lagging broker: the test no longer models it")
	}
	checkpoints(t, dir, a)

	// Clean stop, start again: 0 records restored, nothing discarded.
	rc := &restoreCount{last: map[string]int64{}}
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	produce(t, ctx, c, a.in, seed+1, 300, want)
	w = start(t, a.topo, c.Brokers, dir, processor.WithMetrics(rc), processor.Logger(log))
	latestCounts(t, ctx, c, a.counts, want)
	w.stop(t)
	for _, e := range logs.FilterMessageSnippet("discarding local state").All() {
		t.Errorf("restart after a clean stop: %s %v", e.Message, e.ContextMap())
	}
	if n := rc.total(); n != 0 {
		t.Fatalf("restart after a clean stop restored %d changelog records, want 0", n)
	}
	older := t.TempDir()
	if err := os.CopyFS(older, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	olderFrom := checkpoints(t, older, a)

	// Crash after commits: abandoned mid-transaction. The restarted
	// process fences the crashed one's transaction (same instance id);
	// the test does so first, to count what the restart must replay.
	produce(t, ctx, c, a.in, seed+2, 300, want)
	w = start(t, a.topo, c.Brokers, dir, processor.InstanceID("crashing"))
	latestCounts(t, ctx, c, a.counts, want)
	w.abandon(t)
	if err := c.FenceTransactionalID(ctx, a.topo.AppID()+"-crashing", a.changelogs...); err != nil {
		t.Fatal(err)
	}
	tail, err := c.CountCommitted(ctx, checkpoints(t, dir, a))
	if err != nil {
		t.Fatal(err)
	}
	rc = &restoreCount{last: map[string]int64{}}
	produce(t, ctx, c, a.in, seed+3, 300, want)
	w = start(t, a.topo, c.Brokers, dir, processor.InstanceID("crashing"), processor.WithMetrics(rc))
	latestCounts(t, ctx, c, a.counts, want)
	w.stop(t)
	if n := rc.total(); n != tail {
		t.Fatalf("restart after a crash restored %d changelog records, want the %d committed after its checkpoint", n, tail)
	}
	t.Logf("after the crash: restored %d records, as committed after the checkpoint", tail)

	// An older copy of the state: the tail since its checkpoint.
	tail, err = c.CountCommitted(ctx, olderFrom)
	if err != nil {
		t.Fatal(err)
	}
	var all int64
	for _, cl := range a.changelogs {
		n, err := c.CountCommitted(ctx, map[string]map[int32]int64{cl: {0: 0, 1: 0, 2: 0}})
		if err != nil {
			t.Fatal(err)
		}
		all += n
	}
	if tail == 0 || tail >= all {
		t.Fatalf("older copy: %d records committed after its checkpoint of %d in all: the test does not tell tail from everything", tail, all)
	}
	rc = &restoreCount{last: map[string]int64{}}
	produce(t, ctx, c, a.in, seed+4, 300, want)
	w = start(t, a.topo, c.Brokers, older, processor.WithMetrics(rc))
	latestCounts(t, ctx, c, a.counts, want)
	w.stop(t)
	if n := rc.total(); n != tail {
		t.Fatalf("restart from an older copy restored %d changelog records, want the %d committed after its checkpoint (of %d in all)", n, tail, all)
	}
	t.Logf("from an older copy: restored %d of %d changelog records", tail, all)
}
