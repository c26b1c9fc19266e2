package topology_test

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// The property test compares windowed counts and an outer stream-stream
// join, on random sequences with out-of-order timestamps, against a
// brute-force model written from the documented semantics: plain loops
// over every record seen, no stores, no serdes.

const (
	propTumble      = 10
	propTumbleGrace = 5
	propHopSize     = 10
	propHopAdvance  = 4
	propHopGrace    = 7
	propSlideDiff   = 5
	propSlideGrace  = 4
	propBefore      = 4 // left t joins right t' in [t-before, t+after]
	propAfter       = 6
	propJoinGrace   = 3
)

type propEvent struct {
	side string // "in", "l" or "r"
	key  string
	ts   int64
	val  string
}

func propTopology(t testing.TB) *topology.Topology {
	b := topology.New("prop")
	g := topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str)
	tum := topology.Tumbling(propTumble * time.Millisecond).Grace(propTumbleGrace * time.Millisecond)
	hop := topology.Hopping(propHopSize*time.Millisecond, propHopAdvance*time.Millisecond).Grace(propHopGrace * time.Millisecond)
	g.WindowedBy(tum.LateTo("tum-upd-late")).Count("tum-upd").To("tum-upd", wstr, i64)
	g.WindowedBy(tum.EmitFinal().LateTo("tum-final-late")).Count("tum-final").To("tum-final", wstr, i64)
	g.WindowedBy(hop.LateTo("hop-upd-late")).Count("hop-upd").To("hop-upd", wstr, i64)
	g.WindowedBy(hop.EmitFinal().LateTo("hop-final-late")).Count("hop-final").To("hop-final", wstr, i64)
	sl := topology.Sliding(propSlideDiff * time.Millisecond).Grace(propSlideGrace * time.Millisecond)
	g.WindowedBy(sl.LateTo("sl-upd-late")).Count("sl-upd").To("sl-upd", wstr, i64)
	g.WindowedBy(sl.EmitFinal().LateTo("sl-final-late")).Count("sl-final").To("sl-final", wstr, i64)
	w := topology.JoinBetween(propBefore*time.Millisecond, propAfter*time.Millisecond).
		Grace(propJoinGrace * time.Millisecond).LateTo("join-late")
	topology.OuterJoinStreams(topology.StreamOf(b, "l", str, str), topology.StreamOf(b, "r", str, str), "join", w,
		func(_ string, a, b *string) string {
			s := func(p *string) string {
				if p == nil {
					return "-"
				}
				return *p
			}
			return s(a) + "/" + s(b)
		}, str, str, str).To("joined", str, str)
	return build(t, b)
}

func propEvents(rng *rand.Rand) []propEvent {
	n := 20 + rng.Intn(40)
	var evs []propEvent
	base := int64(rng.Intn(20))
	for i := 0; i < n; i++ {
		base += int64(rng.Intn(5))
		ts := max(base-int64(rng.Intn(16)), 0) // out of order by up to 15ms
		side := []string{"in", "in", "l", "r"}[rng.Intn(4)]
		evs = append(evs, propEvent{side: side, key: string(rune('a' + rng.Intn(3))), ts: ts,
			val: side + strconv.Itoa(i)})
	}
	return evs
}

// modelWindows returns the on-update and final outputs of a windowed count
// as "key[start,end)=n", and the number of late records.
func modelWindows(evs []propEvent, size, adv, grace int64) (updates, finals []string, late int) {
	type win struct {
		key   string
		start int64
	}
	var accepted []propEvent
	emitted := map[win]bool{}
	seen := map[win]bool{}
	st := int64(-1 << 62)
	count := func(w win) int {
		n := 0
		for _, e := range accepted {
			if e.key == w.key && e.ts >= w.start && e.ts < w.start+size {
				n++
			}
		}
		return n
	}
	for _, e := range evs {
		if e.side != "in" {
			continue
		}
		st = max(st, e.ts)
		var starts []int64
		for s := e.ts - e.ts%adv; s > e.ts-size; s -= adv {
			starts = append([]int64{s}, starts...)
		}
		var open []int64
		for _, s := range starts {
			if s+size+grace > st {
				open = append(open, s)
			}
		}
		if len(open) == 0 {
			late++
		} else {
			accepted = append(accepted, e)
			for _, s := range open {
				w := win{e.key, s}
				seen[w] = true
				updates = append(updates, fmt.Sprintf("%s[%d,%d)=%d", e.key, s, s+size, count(w)))
			}
		}
		var closing []win
		for w := range seen {
			if !emitted[w] && w.start+size+grace <= st {
				closing = append(closing, w)
			}
		}
		sort.Slice(closing, func(i, j int) bool {
			if closing[i].start != closing[j].start {
				return closing[i].start < closing[j].start
			}
			return closing[i].key < closing[j].key
		})
		for _, w := range closing {
			emitted[w] = true
			finals = append(finals, fmt.Sprintf("%s[%d,%d)=%d", w.key, w.start, w.start+size, count(w)))
		}
	}
	return updates, finals, late
}

// modelSliding is modelWindows for sliding windows, from their definition:
// the windows are [r-d, r] for every record r and [r+1, r+1+d] for every
// record r with a record in (r, r+d]; a window exists once it was needed
// while open. Ends are inclusive here, printed exclusive.
func modelSliding(evs []propEvent, d, grace int64) (updates, finals []string, late int) {
	type win struct {
		key   string
		start int64
	}
	var accepted []propEvent
	created := map[win]bool{}
	emitted := map[win]bool{}
	st := int64(-1 << 62)
	count := func(w win) int {
		n := 0
		for _, e := range accepted {
			if e.key == w.key && e.ts >= w.start && e.ts <= w.start+d {
				n++
			}
		}
		return n
	}
	open := func(w win) bool { return w.start+d+1+grace > st }
	for _, e := range evs {
		if e.side != "in" {
			continue
		}
		st = max(st, e.ts)
		if e.ts+d+1+grace <= st {
			late++
		} else {
			accepted = append(accepted, e)
			var changed []win
			for _, r := range accepted {
				if r.key != e.key {
					continue
				}
				needed := []win{{r.key, r.ts - d}}
				for _, o := range accepted {
					if o.key == r.key && o.ts > r.ts && o.ts <= r.ts+d {
						needed = append(needed, win{r.key, r.ts + 1})
						break
					}
				}
				for _, w := range needed {
					if open(w) && !created[w] {
						created[w] = true
						changed = append(changed, w)
					}
				}
			}
			for w := range created {
				if w.key == e.key && open(w) && e.ts >= w.start && e.ts <= w.start+d && !containsWin(changed, w) {
					changed = append(changed, w)
				}
			}
			sort.Slice(changed, func(i, j int) bool { return changed[i].start < changed[j].start })
			for _, w := range changed {
				updates = append(updates, fmt.Sprintf("%s[%d,%d)=%d", w.key, w.start, w.start+d+1, count(w)))
			}
		}
		var closing []win
		for w := range created {
			if !emitted[w] && !open(w) {
				closing = append(closing, w)
			}
		}
		sort.Slice(closing, func(i, j int) bool {
			if closing[i].start != closing[j].start {
				return closing[i].start < closing[j].start
			}
			return closing[i].key < closing[j].key
		})
		for _, w := range closing {
			emitted[w] = true
			finals = append(finals, fmt.Sprintf("%s[%d,%d)=%d", w.key, w.start, w.start+d+1, count(w)))
		}
	}
	return updates, finals, late
}

func containsWin[W comparable](ws []W, w W) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// modelJoin returns the outer join's outputs as "key:l/r@ts" and the
// number of late records.
func modelJoin(evs []propEvent) (out []string, late int) {
	type rec struct {
		propEvent
		seq             int
		joined, expired bool
	}
	closeAt := func(r *rec) int64 {
		if r.side == "l" {
			return r.ts + propAfter + 1 + propJoinGrace
		}
		return r.ts + propBefore + 1 + propJoinGrace
	}
	var recs []*rec
	st := int64(-1 << 62)
	for i, e := range evs {
		if e.side == "in" {
			continue
		}
		st = max(st, e.ts)
		self := &rec{propEvent: e, seq: i}
		if st >= closeAt(self) {
			late++
		} else {
			var matches []*rec
			for _, o := range recs {
				if o.side == e.side || o.key != e.key || o.expired || st >= closeAt(o) {
					continue
				}
				lt, rt := e.ts, o.ts
				if e.side == "r" {
					lt, rt = o.ts, e.ts
				}
				if rt >= lt-propBefore && rt <= lt+propAfter {
					matches = append(matches, o)
				}
			}
			sort.SliceStable(matches, func(i, j int) bool { return matches[i].ts < matches[j].ts })
			for _, o := range matches {
				l, r := e.val, o.val
				if e.side == "r" {
					l, r = o.val, e.val
				}
				out = append(out, fmt.Sprintf("%s:%s/%s@%d", e.key, l, r, max(e.ts, o.ts)))
				o.joined, self.joined = true, true
			}
			recs = append(recs, self)
		}
		for _, side := range []string{"l", "r"} {
			var closing []*rec
			for _, r := range recs {
				if r.side == side && !r.expired && closeAt(r) <= st {
					closing = append(closing, r)
				}
			}
			sort.SliceStable(closing, func(i, j int) bool {
				a, b := closing[i], closing[j]
				if a.ts != b.ts {
					return a.ts < b.ts
				}
				if a.key != b.key {
					return a.key < b.key
				}
				return a.seq < b.seq
			})
			for _, r := range closing {
				r.expired = true
				if r.joined {
					continue
				}
				if side == "l" {
					out = append(out, fmt.Sprintf("%s:%s/-@%d", r.key, r.val, r.ts))
				} else {
					out = append(out, fmt.Sprintf("%s:-/%s@%d", r.key, r.val, r.ts))
				}
			}
		}
	}
	return out, late
}

func TestPropertyWindowsAndJoinMatchModel(t *testing.T) {
	seed := int64(20261125)
	if s := os.Getenv("WEIR_PROP_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("WEIR_PROP_SEED: %v", err)
		}
	}
	runs := 300
	if testing.Short() {
		runs = 50
	}
	topo := propTopology(t)
	for i := 0; i < runs; i++ {
		s := seed + int64(i)
		evs := propEvents(rand.New(rand.NewSource(s)))
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (rerun with WEIR_PROP_SEED=%d): %s\nevents %v", s, s, fmt.Sprintf(format, args...), evs)
		}
		d, err := topologytest.New(topo)
		if err != nil {
			fail("driver: %v", err)
		}
		for _, e := range evs {
			if err := topologytest.Input(d, e.side, str, str).Pipe(e.key, e.val, ms(e.ts)); err != nil {
				fail("pipe: %v", err)
			}
		}
		check := func(topic string, want []string, wantLate int) {
			t.Helper()
			got := wout(t, d, topic)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				fail("%s:\ngot  %v\nwant %v", topic, got, want)
			}
			if n := len(d.Outputs(topic + "-late")); n != wantLate {
				fail("%s: %d late records, model says %d", topic, n, wantLate)
			}
		}
		upd, fin, late := modelWindows(evs, propTumble, propTumble, propTumbleGrace)
		check("tum-upd", upd, late)
		check("tum-final", fin, late)
		upd, fin, late = modelWindows(evs, propHopSize, propHopAdvance, propHopGrace)
		check("hop-upd", upd, late)
		check("hop-final", fin, late)
		upd, fin, late = modelSliding(evs, propSlideDiff, propSlideGrace)
		check("sl-upd", upd, late)
		check("sl-final", fin, late)
		joinOut, joinLate := modelJoin(evs)
		if got := joinedStrings(t, topologytest.Output(d, "joined", str, str)); fmt.Sprint(got) != fmt.Sprint(joinOut) {
			fail("join:\ngot  %v\nwant %v", got, joinOut)
		}
		if n := len(d.Outputs("join-late")); n != joinLate {
			fail("join: %d late records, model says %d", n, joinLate)
		}
	}
}
