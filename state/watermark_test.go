package state

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

// scanningKV records the start of every Range and counts the entries
// its iterators step over. It shares no watermark.
type scanningKV struct {
	KeyValueStore
	starts [][]byte
	steps  int
}

// recordingKV is a scanningKV whose watermark makes the window and
// session stores over it read ahead.
type recordingKV struct {
	scanningKV
	wm IndexWatermark
}

func newRecordingKV(kv KeyValueStore) *recordingKV {
	return &recordingKV{scanningKV: scanningKV{KeyValueStore: kv}}
}

func (r *recordingKV) IndexWatermark() *IndexWatermark { return &r.wm }

// heldKV shares one watermark among the stores over it, as the runtime's
// task stores do.
type heldKV struct {
	KeyValueStore
	wm IndexWatermark
}

func (h *heldKV) IndexWatermark() *IndexWatermark { return &h.wm }

func (r *scanningKV) Range(start, end []byte) Iterator {
	r.starts = append(r.starts, append([]byte(nil), start...))
	return &countingIter{Iterator: r.KeyValueStore.Range(start, end), n: &r.steps}
}

type countingIter struct {
	Iterator
	n *int
}

func (c *countingIter) Next() bool {
	ok := c.Iterator.Next()
	if ok {
		*c.n++
	}
	return ok
}

func (r *scanningKV) lastStart(t *testing.T) []byte {
	t.Helper()
	if len(r.starts) == 0 {
		t.Fatal("no scan")
	}
	s := r.starts[len(r.starts)-1]
	r.starts = nil
	return s
}

func windowsOf(t *testing.T, it *WindowIterator) string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, fmt.Sprintf("%s@%d", it.Key(), it.Start()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}

// TestWindowExpiryStartsAtWatermark: an expiry scans the time index from
// where the last one stopped, not from its start; the expiries after it
// delete what it read ahead without a scan; a put below the watermark
// lowers it again.
func TestWindowExpiryStartsAtWatermark(t *testing.T) {
	kv := newRecordingKV(NewPending(NewMemory()))
	w := NewWindowStore(kv)
	for i := int64(1); i <= 10; i++ {
		if err := w.Put([]byte("k"), i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ExpireBefore(5); err != nil {
		t.Fatal(err)
	}
	if s := kv.lastStart(t); !bytes.Equal(s, []byte{tagIndex}) {
		t.Fatalf("first expiry scanned from %q; want the start of the index", s)
	}
	if err := w.ExpireBefore(8); err != nil {
		t.Fatal(err)
	}
	if len(kv.starts) != 0 {
		t.Fatalf("the second expiry scanned from %q; want it to use the read-ahead", kv.starts)
	}
	if err := w.ExpireBefore(8); err != nil {
		t.Fatal(err)
	}
	if len(kv.starts) != 0 {
		t.Fatalf("an expiry with nothing new scanned from %q", kv.starts)
	}
	if got := windowsOf(t, w.FetchAll(-100, 100)); got != "[k@8 k@9 k@10]" {
		t.Fatalf("FetchAll = %s", got)
	}
	if s := kv.lastStart(t); !bytes.Equal(s, indexTimeBound(8)) {
		t.Fatalf("FetchAll scanned from %q; want the watermark %q", s, indexTimeBound(8))
	}

	// A late put below the watermark is found and expired.
	if err := w.Put([]byte("late"), 3, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got := windowsOf(t, w.FetchAll(-100, 100)); got != "[late@3 k@8 k@9 k@10]" {
		t.Fatalf("FetchAll after a late put = %s", got)
	}
	if err := w.ExpireBefore(9); err != nil {
		t.Fatal(err)
	}
	if got := windowsOf(t, w.FetchAll(-100, 100)); got != "[k@9 k@10]" {
		t.Fatalf("after expiry: %s", got)
	}
	if _, ok, _ := w.Get([]byte("late"), 3); ok {
		t.Fatal("late window's value survived its expiry")
	}

	// A new store over the same data after a rewind (which resets the
	// shared watermark) knows nothing and scans from the start once.
	kv.starts = nil
	kv.wm.Reset()
	w2 := NewWindowStore(kv)
	if err := w2.ExpireBefore(10); err != nil {
		t.Fatal(err)
	}
	if s := kv.lastStart(t); !bytes.Equal(s, []byte{tagIndex}) {
		t.Fatalf("a new store's first expiry scanned from %q", s)
	}
}

func TestSessionExpiryStartsAtWatermark(t *testing.T) {
	kv := newRecordingKV(NewMemory())
	s := NewSessionStore(kv)
	for i := int64(1); i <= 10; i++ {
		if err := s.Put([]byte("k"), i-1, i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		t     int64
		start []byte
	}{{4, []byte{tagIndex}}, {7, nil}} { // nil: from the read-ahead
		if err := s.ExpireBefore(step.t); err != nil {
			t.Fatal(err)
		}
		if step.start == nil {
			if len(kv.starts) != 0 {
				t.Fatalf("ExpireBefore(%d) scanned from %q; want the read-ahead", step.t, kv.starts)
			}
			continue
		}
		if got := kv.lastStart(t); !bytes.Equal(got, step.start) {
			t.Fatalf("ExpireBefore(%d) scanned from %q; want %q", step.t, got, step.start)
		}
	}
	if err := s.Put([]byte("late"), 0, 2, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireBefore(8); err != nil {
		t.Fatal(err)
	}
	it := s.FetchAll(-100, 100)
	var got []string
	for it.Next() {
		got = append(got, fmt.Sprintf("%s@%d-%d", it.Key(), it.Start(), it.End()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[k@7-8 k@8-9 k@9-10]" {
		t.Fatalf("sessions = %v", got)
	}
}

// TestExpiryReadAheadScansOncePerWindow: expiring a long index one
// entry at a time (stream time moving on record by record) opens one scan
// per aheadMax entries, not one per expiry, and its range deletes join
// into one.
func TestExpiryReadAheadScansOncePerWindow(t *testing.T) {
	p := NewPending(NewMemory())
	kv := newRecordingKV(p)
	w := NewWindowStore(kv)
	const n = 10 * aheadMax
	for i := int64(0); i < n; i++ {
		if err := w.Put([]byte(fmt.Sprint(i%7)), 2*i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(1); i <= 2*n; i++ {
		if err := w.ExpireBefore(i); err != nil {
			t.Fatal(err)
		}
	}
	if scans := len(kv.starts); scans > n/aheadMax+2 {
		t.Fatalf("%d expiries opened %d scans; want at most %d", n, scans, n/aheadMax+2)
	}
	if got := windowsOf(t, w.FetchAll(math.MinInt64, math.MaxInt64)); got != "[]" {
		t.Fatalf("left after expiring all: %s", got)
	}
	if rs := p.RangeDeletes(); len(rs) != 1 {
		t.Fatalf("%d expiries left %d range deletes; want them joined into 1", n, len(rs))
	}
}

// TestExpiryModel: random puts, deletes (late ones included) and
// expiries on window and session stores leave exactly what a map model
// says, and FetchAll agrees, whatever the read-ahead holds.
func TestExpiryModel(t *testing.T) {
	t.Run("shared-watermark", func(t *testing.T) {
		testExpiryModel(t, func() KeyValueStore { return &heldKV{KeyValueStore: NewPending(NewMemory())} })
	})
	// Without a WatermarkHolder each store expires by scanning.
	t.Run("no-holder", func(t *testing.T) {
		testExpiryModel(t, func() KeyValueStore { return NewPending(NewMemory()) })
	})
}

func testExpiryModel(t *testing.T, newKV func() KeyValueStore) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for round := 0; round < 20; round++ {
		// Two stores over each kv, written in turn, as a join's two
		// processors do.
		kv := newKV()
		ws := [2]*WindowStore{NewWindowStore(kv), NewWindowStore(kv)}
		skv := newKV()
		ss := [2]*SessionStore{NewSessionStore(skv), NewSessionStore(skv)}
		type win struct {
			key   string
			start int64
		}
		wm := map[win]bool{}
		sm := map[[3]int64]bool{} // key, start, end
		low := int64(0)
		for op := 0; op < 3000; op++ {
			w, s := ws[rng.IntN(2)], ss[rng.IntN(2)]
			switch r := rng.IntN(100); {
			case r < 20: // a get and a fetch, checked against the model
				k := fmt.Sprint(rng.Int64N(20))
				start := low - 10 + rng.Int64N(700)
				if _, ok, err := w.Get([]byte(k), start); err != nil || ok != wm[win{k, start}] {
					t.Fatalf("seed %d: Get(%s, %d) = %v, %v; model says %v", seed, k, start, ok, err, wm[win{k, start}])
				}
				to := start + rng.Int64N(50)
				var want []int64
				for x := range wm {
					if x.key == k && x.start >= start && x.start <= to {
						want = append(want, x.start)
					}
				}
				slices.Sort(want)
				it := w.Fetch([]byte(k), start, to)
				var got []int64
				for it.Next() {
					got = append(got, it.Start())
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d: Fetch(%s, %d, %d) = %v; model says %v", seed, k, start, to, got, want)
				}
			case r < 55:
				k := rng.Int64N(20)
				start := low - 5 + rng.Int64N(600) // some below the bound
				if err := w.Put([]byte(fmt.Sprint(k)), start, []byte("v")); err != nil {
					t.Fatal(err)
				}
				wm[win{fmt.Sprint(k), start}] = true
				end := start + rng.Int64N(3)
				if err := s.Put([]byte(fmt.Sprint(k)), start, end, []byte("v")); err != nil {
					t.Fatal(err)
				}
				sm[[3]int64{k, start, end}] = true
			case r < 70:
				k := rng.Int64N(20)
				start := low + rng.Int64N(600)
				if err := w.Delete([]byte(fmt.Sprint(k)), start); err != nil {
					t.Fatal(err)
				}
				delete(wm, win{fmt.Sprint(k), start})
				for e := range 3 {
					if err := s.Remove([]byte(fmt.Sprint(k)), start, start+int64(e)); err != nil {
						t.Fatal(err)
					}
					delete(sm, [3]int64{k, start, start + int64(e)})
				}
			default:
				low += rng.Int64N(40)
				if err := w.ExpireBefore(low); err != nil {
					t.Fatal(err)
				}
				if err := s.ExpireBefore(low); err != nil {
					t.Fatal(err)
				}
				for x := range wm {
					if x.start < low {
						delete(wm, x)
					}
				}
				for x := range sm {
					if x[2] < low {
						delete(sm, x)
					}
				}
			}
		}
		w, s := ws[0], ss[0]
		var want []string
		for x := range wm {
			want = append(want, fmt.Sprintf("%s@%d", x.key, x.start))
		}
		it := w.FetchAll(math.MinInt64, math.MaxInt64)
		var got []string
		for it.Next() {
			got = append(got, fmt.Sprintf("%s@%d", it.Key(), it.Start()))
			if _, ok, _ := w.Get(it.Key(), it.Start()); !ok {
				t.Fatalf("seed %d: index entry %s@%d without its window", seed, it.Key(), it.Start())
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(want)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d round %d: windows\n got %v\nwant %v", seed, round, got, want)
		}
		// No primary entry outlives its index entry.
		pit := kv.Range([]byte{tagPrimary}, []byte{tagPrimary + 1})
		n := 0
		for pit.Next() {
			n++
		}
		if err := pit.Close(); err != nil {
			t.Fatal(err)
		}
		if n != len(wm) {
			t.Fatalf("seed %d round %d: %d primary windows; want %d", seed, round, n, len(wm))
		}
		want, got = nil, nil
		for x := range sm {
			want = append(want, fmt.Sprintf("%d@%d-%d", x[0], x[1], x[2]))
		}
		sit := s.FetchAll(math.MinInt64, math.MaxInt64)
		for sit.Next() {
			got = append(got, fmt.Sprintf("%s@%d-%d", sit.Key(), sit.Start(), sit.End()))
		}
		if err := sit.Close(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(want)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d round %d: sessions\n got %v\nwant %v", seed, round, got, want)
		}
	}
}

// TestExpiryWithoutHolderScans: stores over a kv that shares no
// watermark cannot know what another store over it wrote, so each expiry
// scans from the start of the index (no mark, no read-ahead) and finds
// what the other one put, below its last expiry's bound too.
func TestExpiryWithoutHolderScans(t *testing.T) {
	kv := &scanningKV{KeyValueStore: NewPending(NewMemory())}
	a, b := NewWindowStore(kv), NewWindowStore(kv)
	for i := int64(10); i < 20; i++ {
		if err := a.Put([]byte("k"), i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	expire := func(before int64) {
		t.Helper()
		kv.starts = nil
		if err := a.ExpireBefore(before); err != nil {
			t.Fatal(err)
		}
		if len(kv.starts) == 0 {
			t.Fatalf("ExpireBefore(%d) did not scan", before)
		}
	}
	expire(12)
	for _, start := range []int64{13, 11} { // 11: below a's last bound
		if err := b.Put([]byte("other"), start, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	expire(14)
	if s := kv.lastStart(t); len(s) != 1 || s[0] != tagIndex {
		t.Fatalf("expiry scanned from %q; want the start of the index", s)
	}
	expire(14)
	for _, start := range []int64{11, 13} {
		if _, ok, _ := a.Get([]byte("other"), start); ok {
			t.Fatalf("window other@%d another store put survived an expiry to 14", start)
		}
	}
	if got := windowsOf(t, a.FetchAll(math.MinInt64, math.MaxInt64)); got != "[k@14 k@15 k@16 k@17 k@18 k@19]" {
		t.Fatalf("after expiry: %s", got)
	}
}

// TestPendingIterSkipsHiddenRanges: a scan over a base whose keys a
// pending range delete hides does not step through them one by one.
func TestPendingIterSkipsHiddenRanges(t *testing.T) {
	base := newRecordingKV(NewMemory())
	for i := 0; i < 1000; i++ {
		if err := base.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	p := NewPending(base)
	if err := p.DeleteRange([]byte("k0000"), []byte("k0998")); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete([]byte("k0999")); err != nil {
		t.Fatal(err)
	}
	if err := p.Put([]byte("k0500"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	base.steps = 0
	it := p.Range(nil, nil)
	var got []string
	for it.Next() {
		got = append(got, fmt.Sprintf("%s=%s", it.Key(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[k0500=new k0998=v]" {
		t.Fatalf("scan = %v", got)
	}
	if base.steps > 2*maxHiddenSteps+2 {
		t.Fatalf("the scan stepped over %d base entries; want at most %d", base.steps, 2*maxHiddenSteps+2)
	}
}

func TestDeriveRejectsForeignKeys(t *testing.T) {
	if _, err := WindowIndex.Derive(nil, []Change{{Key: []byte("x"), Value: []byte("v")}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Derive of a key that is no window key: %v; want ErrCorrupt", err)
	}
	got, err := SessionIndex.Derive(nil, []Change{
		{Key: primaryKey([]byte("k"), 5, 2), Tombstone: true},
		{Key: indexKey([]byte("k"), 5, 2), Tombstone: true}, // an old changelog's index record
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[1].Key, indexKey([]byte("k"), 5, 2)) || !got[1].Tombstone {
		t.Fatalf("Derive of a session tombstone = %+v", got)
	}
}
