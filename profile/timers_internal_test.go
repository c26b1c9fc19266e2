package profile

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// startsKV records where each Range starts.
type startsKV struct {
	state.KeyValueStore
	starts [][]byte
}

func (s *startsKV) Range(start, end []byte) state.Iterator {
	s.starts = append(s.starts, append([]byte(nil), start...))
	return s.KeyValueStore.Range(start, end)
}

// TestTimerScanStartsAfterLastFired: fireTimers scans the cart timers from
// just after the last deadline it fired, not from the first key (where
// the deletions of fired timers pile up); it does not scan at all while
// stream time is below the next deadline it knows of; a deadline set
// below either mark still fires.
func TestTimerScanStartsAfterLastFired(t *testing.T) {
	kv := &startsKV{KeyValueStore: state.NewPending(state.NewMemory())}
	p := &profiler{keys: codec.String(), timers: kv, cache: map[string]*cached{"late": {}, "a": {}, "b": {}}, maxCached: 10}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	enc := func(ms int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ms)^(1<<63)) }
	fire := func(ms int64) {
		t.Helper()
		if err := p.fireTimers(at(ms)); err != nil {
			t.Fatal(err)
		}
	}
	set := func(id string, ms int64) {
		t.Helper()
		if err := p.setTimer(id, 0, ms); err != nil {
			t.Fatal(err)
		}
	}
	scanned := func(want []byte) {
		t.Helper()
		if len(kv.starts) != 1 || !bytes.Equal(kv.starts[0], want) {
			t.Fatalf("scans started at %q; want one at %q", kv.starts, want)
		}
		kv.starts = nil
	}
	noScan := func() {
		t.Helper()
		if len(kv.starts) != 0 {
			t.Fatalf("no timer was due, yet timers were scanned from %q", kv.starts)
		}
	}
	pending := func(id string, ms int64) bool {
		t.Helper()
		k, _ := p.timerKey(id, ms)
		_, ok, err := kv.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	fire(100)
	scanned(nil) // a new core starts from the first key once
	set("a", 300)
	set("b", 500)
	fire(200)
	noScan() // the next deadline is 300
	fire(200)
	noScan()
	fire(300)
	scanned(enc(201))
	if pending("a", 300) || !pending("b", 500) {
		t.Fatal("at 300 the timer due at 300 did not fire, or the one due at 500 did")
	}
	fire(499)
	noScan() // the scan at 300 saw 500 next
	set("late", 150)
	fire(501)
	scanned(enc(150))
	if pending("late", 150) || pending("b", 500) {
		t.Fatal("a timer set below the last fired deadline, or the one due at 500, did not fire")
	}
	set("a", 700)
	fire(600)
	noScan()
	set("b", 650) // earlier than the next deadline known
	fire(660)
	scanned(enc(601))
	if pending("b", 650) || !pending("a", 700) {
		t.Fatal("at 660 the timer due at 650 did not fire, or the one due at 700 did")
	}
}
