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
	// At 0 s only a has work; it commits again at 3 s.
	if got := m.stall(t0); got != 3*time.Second {
		t.Errorf("stall from 0 s = %v, want 3s", got)
	}
	// At 2 s both have work: b commits again only at 5 s.
	if got := m.stall(t0.Add(2 * time.Second)); got != 3*time.Second {
		t.Errorf("stall from 2 s = %v, want 3s (b at 5 s)", got)
	}
	// After the last sample there is nothing to wait for.
	if got := m.stall(t0.Add(time.Minute)); got != 0 {
		t.Errorf("stall after the samples = %v, want 0", got)
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
