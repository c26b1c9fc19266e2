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
// the deletions of fired timers pile up); a deadline set below that mark
// still fires.
func TestTimerScanStartsAfterLastFired(t *testing.T) {
	kv := &startsKV{KeyValueStore: state.NewPending(state.NewMemory())}
	p := &profiler{keys: codec.String(), timers: kv, cache: map[string]*cached{"late": {}}}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	enc := func(ms int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ms)^(1<<63)) }
	scanned := func(want []byte) {
		t.Helper()
		if len(kv.starts) != 1 || !bytes.Equal(kv.starts[0], want) {
			t.Fatalf("scans started at %q; want one at %q", kv.starts, want)
		}
		kv.starts = nil
	}
	if err := p.fireTimers(at(100)); err != nil {
		t.Fatal(err)
	}
	scanned(nil) // a new core starts from the first key once
	if err := p.fireTimers(at(200)); err != nil {
		t.Fatal(err)
	}
	scanned(enc(101))
	if err := p.fireTimers(at(200)); err != nil {
		t.Fatal(err)
	}
	if len(kv.starts) != 0 {
		t.Fatalf("stream time did not move, yet timers were scanned from %q", kv.starts)
	}
	if err := p.setTimer("late", 0, 150); err != nil {
		t.Fatal(err)
	}
	if err := p.fireTimers(at(201)); err != nil {
		t.Fatal(err)
	}
	scanned(enc(150))
	k, _ := p.timerKey("late", 150)
	if _, ok, _ := kv.Get(k); ok {
		t.Fatal("the timer set below the last fired deadline did not fire")
	}
}
