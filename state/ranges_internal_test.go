package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// addRange (the in-order fast path included) keeps the same ranges as
// sorting and merging all of them, over random sequences that mostly move
// forward, as expiries do, and sometimes jump back.
func TestAddRangeMatchesMerge(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	key := func(i int) []byte { return []byte(fmt.Sprintf("%03d", i)) }
	for round := 0; round < 500; round++ {
		var got, all []KeyRange
		at := 0
		for i := 0; i < 1+rng.IntN(12); i++ {
			if rng.IntN(4) == 0 {
				at = rng.IntN(100) // jump anywhere
			}
			start := at + rng.IntN(3)
			r := KeyRange{Start: key(start), End: key(start + 1 + rng.IntN(5))}
			if rng.IntN(10) == 0 {
				r.End = nil
			}
			at = start + rng.IntN(6)
			got = addRange(got, r)
			all = append(all, KeyRange{Start: r.Start, End: r.End})
			want := mergeRanges(append([]KeyRange(nil), all...))
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Fatalf("seed %d round %d: after adding %q: got %q, want %q", seed, round, all, got, want)
			}
		}
	}
}
