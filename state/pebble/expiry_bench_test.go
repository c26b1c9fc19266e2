package pebble_test

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/weirstream/weir/state"
)

// BenchmarkWindowExpiry measures one expiry pass of a window store (a
// stream–stream join's buffer) the way the runtime runs it: ExpireBefore
// through the pending overlay, the changelog records (Changes), and the
// commit to Pebble. Each pass expires the 100 windows put just before it
// (outside the timer). The sub-benchmarks differ only in how many windows
// expired before the timer started; a pass should cost the same in all.
// 1M builds for a while, so it runs only when -bench names it (…/1M).
//
// A scan from the start of the index pays for every deletion Pebble has
// not compacted away yet, mostly those still in the memtable: with 100k
// the whole history is there, with 1M most of it was flushed and
// compacted during the build. Scans from the watermark pay for neither.
func BenchmarkWindowExpiry(b *testing.B) {
	for _, c := range []struct {
		name    string
		history int
	}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(c.name, func(b *testing.B) {
			if c.history >= 1_000_000 && !strings.Contains(flag.Lookup("test.bench").Value.String(), "/1M") {
				b.Skip("run with -bench 'BenchmarkWindowExpiry/1M'")
			}
			benchExpiry(b, c.history)
		})
	}
}

func benchExpiry(b *testing.B, history int) {
	const (
		perPass   = 100
		customers = 1000
		chunk     = 10_000
	)
	db := benchDB(b)
	p := newWindowPending(db.Store("0_0", "w"))
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c"}: 0}}
	records := 0
	commit := func(b *testing.B, p *state.Pending) {
		err := p.Changes(func(_, _ []byte, _ bool) error { records++; return nil })
		if err == nil {
			err = db.Commit("0_0", map[string]state.Batch{"w": p}, cp)
		}
		if err != nil {
			b.Fatal(err)
		}
		p.Reset()
	}
	keys := make([][]byte, customers)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("customer-%04d", i))
	}
	value := make([]byte, 100)
	put := func(b *testing.B, ws *state.WindowStore, from, n int) {
		for i := from; i < from+n; i++ {
			if err := ws.Put(keys[i%customers], int64(i), value); err != nil {
				b.Fatal(err)
			}
		}
	}

	// The history: windows at times [0, history), expired in ten steps.
	ws := state.NewWindowStore(&heldPending{Pending: p}) // as the runtime's task stores
	for from := 0; from < history; from += chunk {
		put(b, ws, from, min(chunk, history-from))
		commit(b, p)
	}
	for step := 1; step <= 10; step++ {
		if err := ws.ExpireBefore(int64(history * step / 10)); err != nil {
			b.Fatal(err)
		}
		commit(b, p)
	}

	// A fresh store, as after a restart; its first pass is untimed.
	ws = state.NewWindowStore(&heldPending{Pending: p})
	if err := ws.ExpireBefore(int64(history)); err != nil {
		b.Fatal(err)
	}
	commit(b, p)
	records = 0
	next := history
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		put(b, ws, next, perPass)
		commit(b, p)
		next += perPass
		b.StartTimer()
		if err := ws.ExpireBefore(int64(next)); err != nil {
			b.Fatal(err)
		}
		commit(b, p)
	}
	b.StopTimer()
	it := ws.FetchAll(0, int64(next))
	if it.Next() {
		b.Fatalf("window %q@%d left after expiry", it.Key(), it.Start())
	}
	if err := it.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(records)/float64(b.N), "changelog-records/op")
}

// heldPending is a window overlay that shares one index watermark among
// the stores over it, as the runtime's task stores do (processor/layers.go).
type heldPending struct {
	*state.Pending
	wm state.IndexWatermark
}

func (h *heldPending) IndexWatermark() *state.IndexWatermark { return &h.wm }

// BenchmarkWindowExpiryPerRecord measures expiry the way a stream–stream
// join drives it: every record puts one window at stream time and expires
// the window that fell out of retention, with a commit to Pebble every
// 100 records (the 100 ms interval of a one-partition drain). One op is
// one record's put and expiry. "scan" opens an iterator from the start
// of the index per expiry (a store over a kv that shares no watermark);
// "readahead" deletes from the read-ahead list (the runtime's case).
func BenchmarkWindowExpiryPerRecord(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := "scan"
		if shared {
			name = "readahead"
		}
		b.Run(name, func(b *testing.B) {
			const (
				retention = 10_000
				customers = 1000
				perCommit = 100
			)
			db := benchDB(b)
			p := newWindowPending(db.Store("0_0", "w"))
			var kv state.KeyValueStore = p
			if shared {
				kv = &heldPending{Pending: p}
			}
			cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c"}: 0}}
			commit := func() {
				if err := db.Commit("0_0", map[string]state.Batch{"w": p}, cp); err != nil {
					b.Fatal(err)
				}
				p.Reset()
			}
			keys := make([][]byte, customers)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("customer-%04d", i))
			}
			value := make([]byte, 100)
			ws := state.NewWindowStore(kv)
			for i := 0; i < retention; i++ {
				if err := ws.Put(keys[i%customers], int64(i), value); err != nil {
					b.Fatal(err)
				}
			}
			commit()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t := int64(retention + i)
				if err := ws.Put(keys[i%customers], t, value); err != nil {
					b.Fatal(err)
				}
				if err := ws.ExpireBefore(t - retention + 1); err != nil {
					b.Fatal(err)
				}
				if i%perCommit == perCommit-1 {
					commit()
				}
			}
		})
	}
}
