// Package statetest holds the conformance tests every state.KeyValueStore
// backend must pass, so the in-memory store of the test driver and the
// Pebble store of the runtime behave alike.
package statetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
)

// RunKeyValueStoreTests runs the conformance suite; open must return a
// new, empty store for each subtest.
func RunKeyValueStoreTests(t *testing.T, open func(t *testing.T) state.KeyValueStore) {
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		v, ok, err := s.Get([]byte("nope"))
		if err != nil || ok || v != nil {
			t.Fatalf("Get(missing) = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
	})
	t.Run("PutGetOverwrite", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "k", "v1")
		wantGet(t, s, "k", "v1", true)
		mustPut(t, s, "k", "v2")
		wantGet(t, s, "k", "v2", true)
	})
	t.Run("NilValueIsEmptyNotDelete", func(t *testing.T) {
		s := open(t)
		if err := s.Put([]byte("k"), nil); err != nil {
			t.Fatal(err)
		}
		wantGet(t, s, "k", "", true)
		wantRange(t, s, nil, nil, []string{"k="})
	})
	t.Run("EmptyKey", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "", "empty")
		mustPut(t, s, "a", "1")
		wantGet(t, s, "", "empty", true)
		wantRange(t, s, nil, nil, []string{"=empty", "a=1"})
		wantRange(t, s, []byte{}, []byte("a"), []string{"=empty"})
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "a", "1")
		mustPut(t, s, "b", "2")
		if err := s.Delete([]byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete([]byte("missing")); err != nil {
			t.Fatalf("Delete(missing) = %v; want nil", err)
		}
		wantGet(t, s, "a", "", false)
		wantGet(t, s, "b", "2", true)
		wantRange(t, s, nil, nil, []string{"b=2"})
	})
	t.Run("ByteOrder", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"b", "a\xff", "a", "a\x00", "\xff", "\x00", "ab", "B"} {
			mustPut(t, s, k, "v")
		}
		wantRange(t, s, nil, nil, []string{"\x00=v", "B=v", "a=v", "a\x00=v", "ab=v", "a\xff=v", "b=v", "\xff=v"})
	})
	t.Run("RangeBounds", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"a", "b", "c", "d"} {
			mustPut(t, s, k, k)
		}
		wantRange(t, s, []byte("b"), []byte("d"), []string{"b=b", "c=c"})
		wantRange(t, s, []byte("bb"), nil, []string{"c=c", "d=d"})
		wantRange(t, s, nil, []byte("b"), []string{"a=a"})
		wantRange(t, s, []byte("c"), []byte("c"), nil)
		wantRange(t, s, []byte("d"), []byte("a"), nil)
		wantRange(t, s, []byte("e"), nil, nil)
	})
	t.Run("DeleteRangeBounds", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"a", "b", "b\x00", "c", "d"} {
			mustPut(t, s, k, k)
		}
		if err := s.DeleteRange([]byte("b"), []byte("d")); err != nil {
			t.Fatal(err)
		}
		wantRange(t, s, nil, nil, []string{"a=a", "d=d"})
		wantGet(t, s, "b\x00", "", false)
		// An empty or inverted range deletes nothing.
		if err := s.DeleteRange([]byte("d"), []byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRange([]byte("a"), []byte("a")); err != nil {
			t.Fatal(err)
		}
		wantRange(t, s, nil, nil, []string{"a=a", "d=d"})
		// Keys put after a range delete are visible.
		mustPut(t, s, "c", "new")
		wantRange(t, s, nil, nil, []string{"a=a", "c=new", "d=d"})
	})
	t.Run("GetCopiesSurviveWrites", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "k", "v1")
		v, _, _ := s.Get([]byte("k"))
		got := string(v) // copy before the next call, as the contract asks
		mustPut(t, s, "k", "v2")
		if got != "v1" {
			t.Fatalf("value read before overwrite = %q; want v1", got)
		}
	})
	t.Run("IteratorSeesLaterWrites", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"a", "b", "c", "d", "e"} {
			mustPut(t, s, k, k)
		}
		it := s.Range(nil, nil)
		defer it.Close()
		var got []string
		for it.Next() {
			k := string(it.Key())
			got = append(got, k+"="+string(it.Value()))
			switch k {
			case "a":
				// Delete the current key and the next one, add one ahead
				// and one behind.
				mustDelete(t, s, "a")
				mustDelete(t, s, "b")
				mustPut(t, s, "bb", "bb")
				mustPut(t, s, "0", "behind")
			case "c":
				mustPut(t, s, "d", "d2")
				if err := s.DeleteRange([]byte("e"), []byte("f")); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"a=a", "bb=bb", "c=c", "d=d2"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iteration with writes = %q; want %q", got, want)
		}
	})
	t.Run("IteratorNextAfterEnd", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "a", "1")
		it := s.Range(nil, nil)
		if !it.Next() || it.Next() || it.Next() {
			t.Fatal("want exactly one entry, then false on every further Next")
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Model", func(t *testing.T) { testModel(t, open(t)) })
}

// testModel runs seeded random operations against the store and a Go map,
// comparing every read.
func testModel(t *testing.T, s state.KeyValueStore) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	model := map[string]string{}
	// A small alphabet with prefixes so ranges and deletes collide often.
	randKey := func() []byte {
		n := rng.IntN(4)
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return b
	}
	randBound := func() []byte {
		if rng.IntN(8) == 0 {
			return nil
		}
		return randKey()
	}
	write := func(op int) {
		switch r := rng.IntN(10); {
		case r < 6:
			k, v := randKey(), fmt.Sprintf("v%d", op)
			if err := s.Put(k, []byte(v)); err != nil {
				t.Fatalf("seed %d op %d: Put: %v", seed, op, err)
			}
			model[string(k)] = v
		case r < 9:
			k := randKey()
			if err := s.Delete(k); err != nil {
				t.Fatalf("seed %d op %d: Delete: %v", seed, op, err)
			}
			delete(model, string(k))
		default:
			a, b := randKey(), randKey()
			if err := s.DeleteRange(a, b); err != nil {
				t.Fatalf("seed %d op %d: DeleteRange: %v", seed, op, err)
			}
			for k := range model {
				if k >= string(a) && k < string(b) {
					delete(model, k)
				}
			}
		}
	}
	for op := 0; op < 5000; op++ {
		switch r := rng.IntN(100); {
		case r < 60:
			write(op)
		case r < 75:
			k := randKey()
			v, ok, err := s.Get(k)
			mv, mok := model[string(k)]
			if err != nil || ok != mok || string(v) != mv {
				t.Fatalf("seed %d op %d: Get(%q) = %q, %v, %v; model %q, %v", seed, op, k, v, ok, err, mv, mok)
			}
		case r < 90:
			a, b := randBound(), randBound()
			got := collect(t, s, a, b)
			want := modelRange(model, a, b)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("seed %d op %d: Range(%q, %q) =\n%q\nmodel\n%q", seed, op, a, b, got, want)
			}
		default:
			// Iterate while writing: each Next must return the smallest
			// key after the previous one that exists at that moment.
			a, b := randBound(), randBound()
			it := s.Range(a, b)
			var last []byte
			for step := 0; ; step++ {
				ok := it.Next()
				var want []string
				if step == 0 {
					want = modelRange(model, a, b)
				} else {
					want = modelRange(model, append(last, 0), b)
				}
				if !ok {
					if len(want) != 0 {
						t.Fatalf("seed %d op %d step %d: live Range(%q, %q) ended after %q; model still has %q", seed, op, step, a, b, last, want)
					}
					break
				}
				got := string(it.Key()) + "=" + string(it.Value())
				if len(want) == 0 || got != want[0] {
					t.Fatalf("seed %d op %d step %d: live Range(%q, %q) after %q = %q; model %q", seed, op, step, a, b, last, got, want)
				}
				last = append([]byte{}, it.Key()...)
				if rng.IntN(2) == 0 {
					write(op*1000 + step)
				}
			}
			if err := it.Close(); err != nil {
				t.Fatalf("seed %d op %d: live Range: %v", seed, op, err)
			}
		}
	}
	if got, want := collect(t, s, nil, nil), modelRange(model, nil, nil); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("seed %d: final contents differ:\n%q\nmodel\n%q", seed, got, want)
	}
}

func modelRange(model map[string]string, start, end []byte) []string {
	var out []string
	for k, v := range model {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			out = append(out, k+"="+v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		// Sort by key alone: "=" may sort before key bytes like \x00.
		return bytes.Compare(keyOf(out[i]), keyOf(out[j])) < 0
	})
	return out
}

func keyOf(kv string) []byte {
	// Keys in these tests never contain '=' .
	return []byte(kv[:bytes.IndexByte([]byte(kv), '=')])
}

func collect(t *testing.T, s state.KeyValueStore, start, end []byte) []string {
	t.Helper()
	it := s.Range(start, end)
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Err(); err != nil {
		t.Fatalf("Range(%q, %q): %v", start, end, err)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("Range(%q, %q) Close: %v", start, end, err)
	}
	return out
}

func mustPut(t *testing.T, s state.KeyValueStore, k, v string) {
	t.Helper()
	if err := s.Put([]byte(k), []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustDelete(t *testing.T, s state.KeyValueStore, k string) {
	t.Helper()
	if err := s.Delete([]byte(k)); err != nil {
		t.Fatalf("Delete(%q): %v", k, err)
	}
}

func wantGet(t *testing.T, s state.KeyValueStore, k, want string, wantOK bool) {
	t.Helper()
	v, ok, err := s.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if ok != wantOK || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q, %v", k, v, ok, want, wantOK)
	}
}

func wantRange(t *testing.T, s state.KeyValueStore, start, end []byte, want []string) {
	t.Helper()
	got := collect(t, s, start, end)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Range(%q, %q) = %q; want %q", start, end, got, want)
	}
}
