package main

import (
	"testing"
	"time"
)

// Two partitions sampled once a second: a has work from the start and
// commits again at 3 s and 4 s; b has none until 2 s, then commits at 5 s.
func testMonitor() (*monitor, time.Time) {
	t0 := time.Unix(1000, 0)
	a, b := tp{"in", 0}, tp{"in", 1}
	m := &monitor{}
	add := func(sec int, ca, ea, cb, eb int64) {
		m.snaps = append(m.snaps, snapshot{at: t0.Add(time.Duration(sec) * time.Second),
			committed: map[tp]int64{a: ca, b: cb}, end: map[tp]int64{a: ea, b: eb}})
	}
	add(0, 0, 10, 5, 5)
	add(1, 0, 12, 5, 5)
	add(2, 0, 14, 5, 8)
	add(3, 12, 16, 5, 9)
	add(4, 16, 16, 5, 9)
	add(5, 16, 16, 9, 9)
	return m, t0
}

func TestStallWaitsForEveryPartitionWithWork(t *testing.T) {
	m, t0 := testMonitor()
	all := func(tp) bool { return true }
	// At 0 s only a has work; it commits again at 3 s.
	if got, ok := m.stall(t0, all); !ok || got != 3*time.Second {
		t.Errorf("stall from 0 s = %v %v, want 3s", got, ok)
	}
	// At 2 s both have work: b commits again only at 5 s.
	if got, ok := m.stall(t0.Add(2*time.Second), all); !ok || got != 3*time.Second {
		t.Errorf("stall from 2 s = %v %v, want 3s (b at 5 s)", got, ok)
	}
	// Only b picked, from 2 s: also 3 s; only a, from 2 s: 1 s.
	if got, ok := m.stall(t0.Add(2*time.Second), func(p tp) bool { return p.part == 0 }); !ok || got != time.Second {
		t.Errorf("stall of a from 2 s = %v %v, want 1s", got, ok)
	}
	// b has no work at 0 s: nothing to report.
	if got, ok := m.stall(t0, func(p tp) bool { return p.part == 1 }); ok {
		t.Errorf("stall of b from 0 s = %v, want none (no work)", got)
	}
	// After the last sample there is nothing to wait for.
	if got, ok := m.stall(t0.Add(time.Minute), all); ok {
		t.Errorf("stall after the samples = %v, want none", got)
	}
}

func TestGapsCountOnlyTimeWithWork(t *testing.T) {
	m, _ := testMonitor()
	got := m.gaps()
	// a: work from 0 s, commits at 3 s (gap 3 s) and 4 s (gap 1 s);
	// b: work from 2 s, commits at 5 s (gap 3 s).
	want := map[time.Duration]int{3 * time.Second: 2, time.Second: 1}
	for _, g := range got {
		want[g]--
	}
	for g, n := range want {
		if n != 0 {
			t.Errorf("gaps %v: %v off by %d (want a 3 s, a 1 s, b 3 s)", got, g, n)
		}
	}
}
