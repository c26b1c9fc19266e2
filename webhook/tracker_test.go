package webhook

import "testing"

func point(t *testing.T, tr *tracker, want int64, wantOK bool) {
	t.Helper()
	if got, ok := tr.commitPoint(); got != want || ok != wantOK {
		t.Fatalf("commitPoint = %d, %v; want %d, %v", got, ok, want, wantOK)
	}
}

func TestTrackerCommitsBelowFirstUnfinished(t *testing.T) {
	tr := newTracker()
	point(t, tr, -1, false) // nothing read: nothing to commit
	tr.add(10, 1)
	tr.add(11, 2) // two endpoints
	tr.add(12, 1)
	point(t, tr, 10, true)
	tr.done(10)
	point(t, tr, 11, true)
	tr.done(11) // one of two endpoints
	point(t, tr, 11, true)
	tr.done(11)
	point(t, tr, 12, true)
	tr.done(12)
	point(t, tr, 13, true)
	tr.committedAt(13)
	point(t, tr, 13, false)
}

func TestTrackerOutOfOrderCompletion(t *testing.T) {
	tr := newTracker()
	for o := int64(0); o < 5; o++ {
		tr.add(o, 1)
	}
	for _, o := range []int64{4, 2, 3, 1} {
		tr.done(o)
		point(t, tr, 0, true) // 0 is still under way
	}
	if tr.pending() != 1 {
		t.Fatalf("pending = %d, want 1", tr.pending())
	}
	tr.done(0)
	point(t, tr, 5, true)
}

func TestTrackerGapsAndRecordsWithoutDeliveries(t *testing.T) {
	tr := newTracker()
	tr.add(3, 1)
	tr.add(7, 0) // no endpoint for its type: finished at once
	tr.add(9, 1) // offsets 8 (a transaction marker, say) never come
	point(t, tr, 3, true)
	tr.done(3)
	point(t, tr, 9, true)
	tr.done(9)
	point(t, tr, 10, true)
	if tr.add(9, 1) {
		t.Fatal("add of an offset below the last one was accepted")
	}
	tr.done(42) // unknown: ignored
	point(t, tr, 10, true)
}
