package state

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// recordingKV records the start of every Range and counts the entries
// its iterators step over.
type recordingKV struct {
	KeyValueStore
	starts [][]byte
	steps  int
}

func (r *recordingKV) Range(start, end []byte) Iterator {
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

func (r *recordingKV) lastStart(t *testing.T) []byte {
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
// where the last one stopped, not from its start, and a put below the
// watermark lowers it again.
func TestWindowExpiryStartsAtWatermark(t *testing.T) {
	kv := &recordingKV{KeyValueStore: NewPending(NewMemory())}
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
	if s := kv.lastStart(t); !bytes.Equal(s, indexTimeBound(5)) {
		t.Fatalf("second expiry scanned from %q; want the last bound %q", s, indexTimeBound(5))
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

	// A new store over the same data (a rewind, a restart) knows nothing
	// and scans from the start once.
	kv.starts = nil
	w2 := NewWindowStore(kv)
	if err := w2.ExpireBefore(10); err != nil {
		t.Fatal(err)
	}
	if s := kv.lastStart(t); !bytes.Equal(s, []byte{tagIndex}) {
		t.Fatalf("a new store's first expiry scanned from %q", s)
	}
}

func TestSessionExpiryStartsAtWatermark(t *testing.T) {
	kv := &recordingKV{KeyValueStore: NewMemory()}
	s := NewSessionStore(kv)
	for i := int64(1); i <= 10; i++ {
		if err := s.Put([]byte("k"), i-1, i, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		t     int64
		start []byte
	}{{4, []byte{tagIndex}}, {7, indexTimeBound(4)}} {
		if err := s.ExpireBefore(step.t); err != nil {
			t.Fatal(err)
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

// TestPendingIterSkipsHiddenRanges: a scan over a base whose keys a
// pending range delete hides does not step through them one by one.
func TestPendingIterSkipsHiddenRanges(t *testing.T) {
	base := &recordingKV{KeyValueStore: NewMemory()}
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

// rangeDeletesKV counts range deletes.
type rangeDeletesKV struct {
	*recordingKV
	n int
}

func (r *rangeDeletesKV) DeleteRange(start, end []byte) error {
	r.n++
	return r.recordingKV.DeleteRange(start, end)
}

// TestWindowExpirySkipsUntilNextEntry: an expiry remembers the first
// entry past its bound, so expiries up to it neither scan nor write a
// range delete; a put below it, or stream time passing it, makes the
// next expiry scan again, and the entries before its bound go.
func TestWindowExpirySkipsUntilNextEntry(t *testing.T) {
	kv := &rangeDeletesKV{recordingKV: &recordingKV{KeyValueStore: NewPending(NewMemory())}}
	w := NewWindowStore(kv)
	put := func(key string, start int64) {
		t.Helper()
		if err := w.Put([]byte(key), start, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	expire := func(before int64) {
		t.Helper()
		if err := w.ExpireBefore(before); err != nil {
			t.Fatal(err)
		}
	}
	quiet := func(what string) {
		t.Helper()
		if len(kv.starts) != 0 || kv.n != 0 {
			t.Fatalf("%s: %d scans (from %q) and %d range deletes; want none", what, len(kv.starts), kv.starts, kv.n)
		}
	}
	put("a", 10)
	put("b", 20)
	expire(5)
	if s := kv.lastStart(t); !bytes.Equal(s, []byte{tagIndex}) {
		t.Fatalf("first expiry scanned from %q; want the start of the index", s)
	}
	if kv.n != 0 {
		t.Fatalf("an expiry that found nothing wrote %d range deletes", kv.n)
	}
	expire(8)
	expire(10)
	quiet("expiries before the first entry")
	expire(11)
	if s := kv.lastStart(t); !bytes.Equal(s, indexTimeBound(10)) {
		t.Fatalf("expiry past the first entry scanned from %q; want %q", s, indexTimeBound(10))
	}
	if kv.n != 1 {
		t.Fatalf("%d range deletes after expiring an entry; want 1", kv.n)
	}
	kv.n = 0
	expire(20)
	quiet("an expiry up to the next entry")
	put("late", 15) // below the next entry known (20)
	expire(16)
	if len(kv.starts) != 1 || kv.n != 1 {
		t.Fatalf("an expiry past a late put: %d scans, %d range deletes; want 1 and 1", len(kv.starts), kv.n)
	}
	if got := windowsOf(t, w.FetchAll(-100, 100)); got != "[b@20]" {
		t.Fatalf("left after expiries: %s", got)
	}
}
