package pebble_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
)

func benchDB(b *testing.B) *pebble.DB {
	db := openDB(b, b.TempDir())
	b.Cleanup(func() { db.Close() })
	return db
}

func key(i int) []byte { return binary.BigEndian.AppendUint64([]byte("customer-"), uint64(i)) }

func BenchmarkPut(b *testing.B) {
	s := benchDB(b).Store("0_0", "s")
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]byte, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Put(key(rng.IntN(1<<20)), v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	const n = 100_000
	db := benchDB(b)
	fill(b, db, n)
	s := db.Store("0_0", "s")
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := s.Get(key(rng.IntN(n))); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func fill(b *testing.B, db *pebble.DB, n int) {
	recs := make([]state.Change, 0, 1000)
	for i := 0; i < n; i++ {
		recs = append(recs, state.Change{Key: key(i), Value: make([]byte, 100)})
		if len(recs) == cap(recs) || i == n-1 {
			if err := db.ApplyRestore("0_0", "s", recs, state.Checkpoint{}); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// BenchmarkHotKeyRMW reads, increments and writes one hot key, the way a
// busy customer's profile is updated, committing every 1000 updates.
// "pending" goes through the write-back overlay and commits one batch per
// 1000 updates; "direct" writes every update to Pebble.
func BenchmarkHotKeyRMW(b *testing.B) {
	const perCommit = 1000
	rmw := func(b *testing.B, kv state.KeyValueStore) {
		v, _, err := kv.Get([]byte("hot"))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.Atoi(string(v))
		if err := kv.Put([]byte("hot"), strconv.AppendInt(nil, int64(n+1), 10)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("pending", func(b *testing.B) {
		db := benchDB(b)
		p := state.NewPending(db.Store("0_0", "s"))
		cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{{Topic: "c", Partition: 0}: 0}}
		for i := 0; i < b.N; i++ {
			rmw(b, p)
			if (i+1)%perCommit == 0 || i == b.N-1 {
				if err := db.Commit("0_0", map[string]state.Batch{"s": p}, cp); err != nil {
					b.Fatal(err)
				}
				p.Reset()
			}
		}
		if got := get(b, db.Store("0_0", "s"), "hot"); got != strconv.Itoa(b.N) {
			b.Fatalf("hot = %s after %d updates", got, b.N)
		}
	})
	b.Run("direct", func(b *testing.B) {
		s := benchDB(b).Store("0_0", "s")
		for i := 0; i < b.N; i++ {
			rmw(b, s)
		}
		if got := get(b, s, "hot"); got != strconv.Itoa(b.N) {
			b.Fatalf("hot = %s after %d updates", got, b.N)
		}
	})
}

// BenchmarkRestore applies changelog records in batches of 10k, reporting
// records per second.
func BenchmarkRestore(b *testing.B) {
	const batch = 10_000
	db := benchDB(b)
	recs := make([]state.Change, batch)
	for i := range recs {
		recs[i].Key, recs[i].Value = key(0), make([]byte, 100)
	}
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{}}
	tp := state.TopicPartition{Topic: "profiles-counts-changelog"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			binary.BigEndian.PutUint64(recs[j].Key[len("customer-"):], uint64(i*batch+j))
		}
		cp.Offsets[tp] = int64((i + 1) * batch)
		if err := db.ApplyRestore("0_0", "s", recs, cp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRestoreWindow restores 10k windows per batch: "derived" from
// a changelog of the windows alone, rebuilding the time index as the
// runtime's restore does; "logged" from a changelog that carries the
// index too (before it was left out), applied as it is. It reports
// windows per second.
func BenchmarkRestoreWindow(b *testing.B) {
	const batch = 10_000
	src := state.NewPending(state.NewMemory())
	ws := state.NewWindowStore(src)
	for i := 0; i < batch; i++ {
		if err := ws.Put(key(i%1000), int64(i), make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	var all []state.Change // primaries and index, as a changelog had them
	if err := src.Changes(func(k, v []byte, _ bool) error {
		all = append(all, state.Change{Key: append([]byte(nil), k...), Value: append([]byte{}, v...)})
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	primaries, _ := state.WindowIndex.Derive(nil, all) // primaries first
	primaries = primaries[:batch]
	cp := state.Checkpoint{Identity: identity(), Offsets: map[state.TopicPartition]int64{}}
	b.Run("derived", func(b *testing.B) {
		db := benchDB(b)
		var derived []state.Change
		for i := 0; i < b.N; i++ {
			var err error
			if derived, err = state.WindowIndex.Derive(derived[:0], primaries); err != nil {
				b.Fatal(err)
			}
			if err := db.ApplyRestore("0_0", "w", derived, cp); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "windows/s")
	})
	b.Run("logged", func(b *testing.B) {
		db := benchDB(b)
		for i := 0; i < b.N; i++ {
			if err := db.ApplyRestore("0_0", "w", all, cp); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "windows/s")
	})
}
