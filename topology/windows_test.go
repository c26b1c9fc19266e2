package topology_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

var wstr = topology.WindowedSerde(str)

// wout reads windowed count updates as "key[start,end)=value" (times in
// ms), tombstones as "key[start,end)=nil".
func wout(t testing.TB, d *topologytest.Driver, topic string) []string {
	t.Helper()
	return wread(t, topologytest.Output(d, topic, wstr, i64))
}

// wread formats the unread records of o like wout.
func wread(t testing.TB, o *topologytest.OutputTopic[topology.Windowed[string], int64]) []string {
	t.Helper()
	rs, err := o.ReadAll()
	must(t, err)
	out := make([]string, len(rs))
	for i, r := range rs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = "nil"
		}
		out[i] = fmt.Sprintf("%s[%d,%d)=%s", r.Key.Key, r.Key.Start.UnixMilli(), r.Key.End.UnixMilli(), v)
	}
	return out
}

func wantStrings(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func windowedCount(w topology.Windows) *topology.Topology {
	b := topology.New("app")
	topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).
		WindowedBy(w).Count("counts").To("out", wstr, i64)
	topo, err := b.Build()
	if err != nil {
		panic(err) // test topologies are fixed
	}
	return topo
}

func pipeAt(t testing.TB, in *topologytest.InputTopic[string, string], key string, times ...int64) {
	t.Helper()
	for _, ts := range times {
		must(t, in.Pipe(key, fmt.Sprintf("%s@%d", key, ts), ms(ts)))
	}
}

func liveWindows(t testing.TB, d *topologytest.Driver, store string) int {
	t.Helper()
	kv, err := d.Store(store)
	must(t, err)
	it := state.NewWindowStore(kv).FetchAll(math.MinInt64, math.MaxInt64)
	n := 0
	for it.Next() {
		n++
	}
	must(t, it.Close())
	return n
}

func TestTumblingBoundsGraceAndLateRecords(t *testing.T) {
	topo := windowedCount(topology.Tumbling(10 * time.Millisecond).Grace(5 * time.Millisecond).LateTo("late"))
	d := driver(t, topo)
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 0, 9) // both in [0,10): start inclusive
	pipeAt(t, in, "a", 10)   // end exclusive: a new window
	pipeAt(t, in, "a", 3)    // stream time 10 < 10+5: [0,10) still open
	wantStrings(t, wout(t, d, "out"), []string{"a[0,10)=1", "a[0,10)=2", "a[10,20)=1", "a[0,10)=3"})
	if n := liveWindows(t, d, "counts"); n != 2 {
		t.Fatalf("%d windows stored, want 2", n)
	}
	pipeAt(t, in, "a", 15) // stream time 15 = end+grace: [0,10) closes and expires
	if n := liveWindows(t, d, "counts"); n != 1 {
		t.Fatalf("%d windows stored after [0,10) closed, want 1", n)
	}
	pipeAt(t, in, "a", 9) // late: its only window is closed
	pipeAt(t, in, "a", 14)
	wantStrings(t, wout(t, d, "out"), []string{
		"a[0,10)=1", "a[0,10)=2", "a[10,20)=1", "a[0,10)=3", "a[10,20)=2", "a[10,20)=3"})
	if late := d.Stats().Late; late != 1 {
		t.Fatalf("Late = %d, want 1", late)
	}
	lr := d.Outputs("late")
	if len(lr) != 1 || string(lr[0].Key) != "a" || string(lr[0].Value) != "a@9" || !lr[0].Timestamp.Equal(ms(9)) {
		t.Fatalf("late topic %+v, want the original a@9 record", lr)
	}
}

func TestTumblingEmitFinalOncePerWindow(t *testing.T) {
	d := driver(t, windowedCount(topology.Tumbling(10*time.Millisecond).Grace(0).EmitFinal()))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 1, 5)
	pipeAt(t, in, "b", 9)
	wantStrings(t, wout(t, d, "out"), nil) // nothing before windows close
	pipeAt(t, in, "c", 10)                 // stream time 10 = end + grace 0: [0,10) closes
	out := topologytest.Output(d, "out", wstr, i64)
	rs, err := out.ReadAll()
	must(t, err)
	if len(rs) != 2 || rs[0].Key.Key != "a" || rs[0].Value != 2 || rs[1].Key.Key != "b" || rs[1].Value != 1 {
		t.Fatalf("finals %+v", rs)
	}
	if !rs[0].Timestamp.Equal(ms(9)) {
		t.Fatalf("final timestamp %v, want the window's last ms (9)", rs[0].Timestamp)
	}
	pipeAt(t, in, "a", 19, 12)
	if rs, _ := out.ReadAll(); len(rs) != 0 {
		t.Fatalf("emitted %+v before [10,20) closed", rs)
	}
	pipeAt(t, in, "d", 20, 35)
	got, err := out.ReadAll()
	must(t, err)
	var s []string
	for _, r := range got {
		s = append(s, fmt.Sprintf("%s[%d)=%d", r.Key.Key, r.Key.Start.UnixMilli(), r.Value))
	}
	wantStrings(t, s, []string{"a[10)=2", "c[10)=1", "d[20)=1"})
}

func TestHoppingOverlap(t *testing.T) {
	d := driver(t, windowedCount(topology.Hopping(10*time.Millisecond, 5*time.Millisecond).Grace(0)))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 7)  // in [0,10) and [5,15)
	pipeAt(t, in, "a", 10) // in [5,15) and [10,20), not [0,10)
	pipeAt(t, in, "a", 9)  // [0,10) closed at 10; [5,15) still open: only it counts
	wantStrings(t, wout(t, d, "out"), []string{
		"a[0,10)=1", "a[5,15)=1", "a[5,15)=2", "a[10,20)=1", "a[5,15)=3"})
	if late := d.Stats().Late; late != 0 {
		t.Fatalf("Late = %d: a record with an open window is not late", late)
	}
	pipeAt(t, in, "a", 4) // [0,10) and [-5,5) both closed: late
	if late := d.Stats().Late; late != 1 {
		t.Fatalf("Late = %d, want 1", late)
	}
}

// With advance not dividing size, the number of windows a record is in
// depends on its time (the doc once said ceil(size/advance) always).
func TestHoppingWindowCountWhenAdvanceDoesNotDivideSize(t *testing.T) {
	d := driver(t, windowedCount(topology.Hopping(10*time.Millisecond, 3*time.Millisecond).Grace(time.Second)))
	in := topologytest.Input(d, "in", str, str)
	for ts := int64(30); ts < 36; ts++ {
		pipeAt(t, in, fmt.Sprint("k", ts), ts)
	}
	perKey := map[string][]string{}
	for _, u := range wout(t, d, "out") {
		k, w, _ := strings.Cut(u, "[")
		perKey[k] = append(perKey[k], "["+w)
	}
	want := map[string]string{
		"k30": "[21,31)=1 [24,34)=1 [27,37)=1 [30,40)=1",
		"k31": "[24,34)=1 [27,37)=1 [30,40)=1",
		"k32": "[24,34)=1 [27,37)=1 [30,40)=1",
		"k33": "[24,34)=1 [27,37)=1 [30,40)=1 [33,43)=1",
		"k34": "[27,37)=1 [30,40)=1 [33,43)=1",
		"k35": "[27,37)=1 [30,40)=1 [33,43)=1",
	}
	for k, w := range want {
		if got := strings.Join(perKey[k], " "); got != w {
			t.Errorf("%s in %s, want %s", k, got, w)
		}
	}
}

func TestSlidingWindows(t *testing.T) {
	d := driver(t, windowedCount(topology.Sliding(10*time.Millisecond).Grace(100*time.Millisecond)))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 10)
	// 15's window [5,16) holds 10 and 15; 10's right window [11,22)
	// now has a record (15).
	pipeAt(t, in, "a", 15)
	// Nothing within 10ms before 30: only its own window. 15's right
	// window would be empty, so it does not exist.
	pipeAt(t, in, "a", 30)
	// Out of order: 12 joins [5,16) and [11,22), gets its own [2,13)
	// (10 and 12), and a right window [13,24) holding 15.
	pipeAt(t, in, "a", 12)
	wantStrings(t, wout(t, d, "out"), []string{
		"a[0,11)=1",
		"a[5,16)=2", "a[11,22)=1",
		"a[20,31)=1",
		"a[2,13)=2", "a[5,16)=3", "a[11,22)=2", "a[13,24)=1",
	})
}

func TestSlidingLateness(t *testing.T) {
	d := driver(t, windowedCount(topology.Sliding(10*time.Millisecond).Grace(0).LateTo("late")))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 100)
	// 89's newest possible window is [89, 100): closed at stream time 100.
	pipeAt(t, in, "a", 89)
	// 90 is inside 100's window [90,101), still open.
	pipeAt(t, in, "a", 90)
	if late := d.Stats().Late; late != 1 || len(d.Outputs("late")) != 1 {
		t.Fatalf("Late = %d, late topic %d records; want 1 and 1", late, len(d.Outputs("late")))
	}
	// 90's own window [80,91) is closed: only [90,101) and 90's right
	// window [91,102) (holding 100) are updated or made.
	wantStrings(t, wout(t, d, "out"), []string{"a[90,101)=1", "a[90,101)=2", "a[91,102)=1"})
}

func TestSessionMergeAndTombstones(t *testing.T) {
	// A session closes at last+1+gap+grace = last+31.
	d := driver(t, windowedCount(topology.Session(10*time.Millisecond).Grace(20*time.Millisecond)))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 0)
	pipeAt(t, in, "a", 25)
	pipeAt(t, in, "a", 10) // exactly gap after 0: same session
	wantStrings(t, wout(t, d, "out"), []string{
		"a[0,1)=1", "a[25,26)=1",
		"a[0,1)=nil", "a[0,11)=2",
	})
	pipeAt(t, in, "a", 18)     // bridges [0,10] and [25,25]: one session
	pipeAt(t, in, "a", 20)     // inside it: an update, no tombstone
	pipeAt(t, in, "b", 30, 41) // 11ms apart: two sessions
	wantStrings(t, wout(t, d, "out")[4:], []string{
		"a[0,11)=nil", "a[25,26)=nil", "a[0,26)=4",
		"a[0,26)=5",
		"b[30,31)=1", "b[41,42)=1"})
	pipeAt(t, in, "c", 20) // stream time 41: 20+1+grace 20 <= 41, late
	if late := d.Stats().Late; late != 1 {
		t.Fatalf("Late = %d, want 1", late)
	}
	pipeAt(t, in, "a", 15) // 15 is late alone, but joins a's session ending at 25: 25+1+20 > 41
	if late := d.Stats().Late; late != 1 {
		t.Fatalf("Late = %d, want 1: a record joining an open session is not late", late)
	}
	wantStrings(t, wout(t, d, "out")[10:], []string{"a[0,26)=6"})
}

func TestSessionEmitFinalAndAggregateMerger(t *testing.T) {
	b := topology.New("app")
	g := topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str)
	topology.AggregateWindowed(g.WindowedBy(topology.Session(10*time.Millisecond).Grace(20*time.Millisecond).EmitFinal()), "visits",
		func() string { return "" },
		func(_ string, v, agg string) (string, error) { return agg + v[strings.Index(v, "@"):], nil },
		func(_ string, a, b string) (string, error) { return a + b, nil }, str).
		To("out", wstr, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	pipeAt(t, in, "a", 0, 20, 10) // 10 merges [0,0] and [20,20]
	pipeAt(t, in, "z", 50)        // a closes at 20+1+10+20 = 51
	if n := len(d.Outputs("out")); n != 0 {
		t.Fatalf("%d finals before the session closed", n)
	}
	pipeAt(t, in, "z", 51)
	rs, err := topologytest.Output(d, "out", wstr, str).ReadAll()
	must(t, err)
	if len(rs) != 1 || rs[0].Key.Key != "a" || rs[0].Value != "@0@20@10" ||
		rs[0].Key.Start.UnixMilli() != 0 || rs[0].Key.End.UnixMilli() != 21 {
		t.Fatalf("finals %+v, want a[0,21)=@0@20@10", rs)
	}
}

func TestWindowsNeedExplicitGrace(t *testing.T) {
	for _, w := range []topology.Windows{
		topology.Tumbling(time.Second),
		topology.Hopping(time.Second, time.Millisecond),
		topology.Sliding(time.Second),
		topology.Session(time.Second),
	} {
		b := topology.New("app")
		topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).WindowedBy(w).Count("c")
		_, err := b.Build()
		if !errors.Is(err, topology.ErrBadWindow) || !strings.Contains(fmt.Sprint(err), "call .Grace(d); use 0 for none") {
			t.Fatalf("%v: Build error %v, want ErrBadWindow asking for Grace", w, err)
		}
	}
	b := topology.New("app")
	g := topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str)
	g.WindowedBy(topology.Hopping(time.Second, 2*time.Second).Grace(0)).Count("advance-too-big")
	g.WindowedBy(topology.Tumbling(0).Grace(0)).Count("zero-size")
	topology.AggregateWindowed(g.WindowedBy(topology.Session(time.Second).Grace(0)), "no-merger",
		func() int64 { return 0 }, func(string, string, int64) (int64, error) { return 0, nil }, nil, i64)
	_, err := b.Build()
	for _, want := range []string{"advance-too-big", "zero-size", "no-merger session merger"} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Fatalf("Build error %v does not mention %q", err, want)
		}
	}
}

func TestWindowedSerdeRoundTrip(t *testing.T) {
	w := topology.Windowed[string]{Key: "k", Start: ms(-5), End: ms(1 << 40)}
	b, err := wstr.Encode("t", w)
	must(t, err)
	if len(b) != 1+16 {
		t.Fatalf("%d bytes, want key + 16", len(b))
	}
	got, err := wstr.Decode("t", b)
	must(t, err)
	if got.Key != "k" || !got.Start.Equal(w.Start) || !got.End.Equal(w.End) {
		t.Fatalf("round trip %+v, want %+v", got, w)
	}
	if _, err := wstr.Decode("t", b[:10]); err == nil {
		t.Fatal("decoded a short windowed key")
	}
}

func TestWindowedReduceAfterRepartition(t *testing.T) {
	b := topology.New("app")
	words := topology.StreamOf(b, "words", str, str) // user -> word
	byWord := topology.GroupByKey(topology.Map(words, "by-word", func(u, w string) (string, string) { return w, u }), str, str)
	byWord.WindowedBy(topology.Tumbling(10*time.Millisecond).Grace(0)).
		Reduce("longest-user", func(agg, v string) (string, error) {
			if len(v) > len(agg) {
				return v, nil
			}
			return agg, nil
		}).To("out", wstr, str)
	topo := build(t, b)
	if n := len(topo.Subtopologies()); n != 2 {
		t.Fatalf("%d sub-topologies, want 2 (the re-keyed stream is repartitioned)", n)
	}
	d := driver(t, topo, topologytest.Partitions(3))
	in := topologytest.Input(d, "words", str, str)
	for i, r := range [][2]string{{"al", "go"}, {"bobby", "go"}, {"cy", "go"}, {"dee", "rust"}, {"al", "go"}} {
		must(t, in.Pipe(r[0], r[1], ms(int64(i*3))))
	}
	rs, err := topologytest.Output(d, "out", wstr, str).ReadAll()
	must(t, err)
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s[%d]=%s", r.Key.Key, r.Key.Start.UnixMilli(), r.Value))
	}
	// go: al, bobby, cy in [0,10); al again at 12 in [10,20).
	wantStrings(t, got, []string{"go[0]=al", "go[0]=bobby", "go[0]=bobby", "rust[0]=dee", "go[10]=al"})
}
