package statetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
)

// Keys that are prefixes of each other, and bytes at both ends.
var modelKeys = []string{"", "a", "a\x00", "ab", "b", "\xff"}

func newRand(t *testing.T) (*rand.Rand, uint64) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed)), seed
}

func randTime(rng *rand.Rand) int64 {
	switch rng.IntN(40) {
	case 0:
		return math.MinInt64
	case 1:
		return math.MaxInt64
	}
	return int64(rng.IntN(40)) - 10
}

type win struct {
	key   string
	start int64
}

// RunWindowStoreModel runs seeded random operations on a WindowStore over
// the store open returns, against a brute-force model.
func RunWindowStoreModel(t *testing.T, open func(t *testing.T) state.KeyValueStore) {
	rng, seed := newRand(t)
	w := state.NewWindowStore(open(t))
	model := map[win]string{}
	fail := func(op int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d op %d: %s", seed, op, fmt.Sprintf(format, args...))
	}
	sorted := func(match func(win) bool, byTime bool) []string {
		var ws []win
		for k := range model {
			if match(k) {
				ws = append(ws, k)
			}
		}
		sort.Slice(ws, func(i, j int) bool {
			a, b := ws[i], ws[j]
			if byTime && a.start != b.start {
				return a.start < b.start
			}
			if len(a.key) != len(b.key) {
				return len(a.key) < len(b.key)
			}
			if a.key != b.key {
				return a.key < b.key
			}
			return a.start < b.start
		})
		out := make([]string, len(ws))
		for i, k := range ws {
			out[i] = fmt.Sprintf("%q@%d=%s", k.key, k.start, model[k])
		}
		return out
	}
	for op := 0; op < 4000; op++ {
		key := modelKeys[rng.IntN(len(modelKeys))]
		switch r := rng.IntN(100); {
		case r < 40:
			start, v := randTime(rng), fmt.Sprintf("v%d", op)
			if err := w.Put([]byte(key), start, []byte(v)); err != nil {
				fail(op, "Put: %v", err)
			}
			model[win{key, start}] = v
		case r < 50:
			start := randTime(rng)
			if err := w.Delete([]byte(key), start); err != nil {
				fail(op, "Delete: %v", err)
			}
			delete(model, win{key, start})
		case r < 65:
			start := randTime(rng)
			v, ok, err := w.Get([]byte(key), start)
			mv, mok := model[win{key, start}]
			if err != nil || ok != mok || string(v) != mv {
				fail(op, "Get(%q, %d) = %q, %v, %v; model %q, %v", key, start, v, ok, err, mv, mok)
			}
		case r < 80:
			from, to := randTime(rng), randTime(rng)
			got := collectWindows(t, w.Fetch([]byte(key), from, to))
			want := sorted(func(k win) bool { return k.key == key && k.start >= from && k.start <= to }, false)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				fail(op, "Fetch(%q, %d, %d) =\n%q\nmodel\n%q", key, from, to, got, want)
			}
		case r < 95:
			from, to := randTime(rng), randTime(rng)
			got := collectWindows(t, w.FetchAll(from, to))
			want := sorted(func(k win) bool { return k.start >= from && k.start <= to }, true)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				fail(op, "FetchAll(%d, %d) =\n%q\nmodel\n%q", from, to, got, want)
			}
		default:
			at := randTime(rng)
			if err := w.ExpireBefore(at); err != nil {
				fail(op, "ExpireBefore: %v", err)
			}
			for k := range model {
				if k.start < at {
					delete(model, k)
				}
			}
		}
	}
	got := collectWindows(t, w.FetchAll(math.MinInt64, math.MaxInt64))
	want := sorted(func(win) bool { return true }, true)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("seed %d: final contents\n%q\nmodel\n%q", seed, got, want)
	}
}

func collectWindows(t *testing.T, it *state.WindowIterator) []string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, fmt.Sprintf("%q@%d=%s", it.Key(), it.Start(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("window iterator: %v", err)
	}
	return out
}

type sess struct {
	key        string
	start, end int64
}

// RunSessionStoreModel runs seeded random operations on a SessionStore
// over the store open returns, against a brute-force model.
func RunSessionStoreModel(t *testing.T, open func(t *testing.T) state.KeyValueStore) {
	rng, seed := newRand(t)
	s := state.NewSessionStore(open(t))
	model := map[sess]string{}
	fail := func(op int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d op %d: %s", seed, op, fmt.Sprintf(format, args...))
	}
	sorted := func(match func(sess) bool, byEnd bool) []string {
		var ss []sess
		for k := range model {
			if match(k) {
				ss = append(ss, k)
			}
		}
		sort.Slice(ss, func(i, j int) bool {
			a, b := ss[i], ss[j]
			if byEnd && a.end != b.end {
				return a.end < b.end
			}
			if len(a.key) != len(b.key) {
				return len(a.key) < len(b.key)
			}
			if a.key != b.key {
				return a.key < b.key
			}
			if a.end != b.end {
				return a.end < b.end
			}
			return a.start < b.start
		})
		out := make([]string, len(ss))
		for i, k := range ss {
			out[i] = fmt.Sprintf("%q@[%d,%d]=%s", k.key, k.start, k.end, model[k])
		}
		return out
	}
	randSession := func() (int64, int64) {
		a, b := randTime(rng), randTime(rng)
		if a > b {
			a, b = b, a
		}
		return a, b
	}
	for op := 0; op < 4000; op++ {
		key := modelKeys[rng.IntN(len(modelKeys))]
		switch r := rng.IntN(100); {
		case r < 40:
			start, end := randSession()
			v := fmt.Sprintf("v%d", op)
			if err := s.Put([]byte(key), start, end, []byte(v)); err != nil {
				fail(op, "Put: %v", err)
			}
			model[sess{key, start, end}] = v
		case r < 50:
			start, end := randSession()
			if rng.IntN(2) == 0 { // remove one that exists, if any
				for k := range model {
					key, start, end = k.key, k.start, k.end
					break
				}
			}
			if err := s.Remove([]byte(key), start, end); err != nil {
				fail(op, "Remove: %v", err)
			}
			delete(model, sess{key, start, end})
		case r < 60:
			start, end := randSession()
			v, ok, err := s.Get([]byte(key), start, end)
			mv, mok := model[sess{key, start, end}]
			if err != nil || ok != mok || string(v) != mv {
				fail(op, "Get = %q, %v, %v; model %q, %v", v, ok, err, mv, mok)
			}
		case r < 80:
			ee, ls := randTime(rng), randTime(rng)
			got := collectSessions(t, s.FindSessions([]byte(key), ee, ls))
			want := sorted(func(k sess) bool { return k.key == key && k.end >= ee && k.start <= ls }, false)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				fail(op, "FindSessions(%q, %d, %d) =\n%q\nmodel\n%q", key, ee, ls, got, want)
			}
		case r < 95:
			from, to := randTime(rng), randTime(rng)
			got := collectSessions(t, s.FetchAll(from, to))
			want := sorted(func(k sess) bool { return k.end >= from && k.end <= to }, true)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				fail(op, "FetchAll(%d, %d) =\n%q\nmodel\n%q", from, to, got, want)
			}
		default:
			at := randTime(rng)
			if err := s.ExpireBefore(at); err != nil {
				fail(op, "ExpireBefore: %v", err)
			}
			for k := range model {
				if k.end < at {
					delete(model, k)
				}
			}
		}
	}
	if err := s.Put([]byte("x"), 2, 1, nil); err == nil {
		t.Fatal("Put of a session ending before it starts succeeded")
	}
}

func collectSessions(t *testing.T, it *state.SessionIterator) []string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, fmt.Sprintf("%q@[%d,%d]=%s", it.Key(), it.Start(), it.End(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("session iterator: %v", err)
	}
	return out
}
